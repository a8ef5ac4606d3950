# Our Wasm netback as a network driver domain: build/netback.pvh.elf is
# started with driver_domain=1, then our unikernel and a Linux PVH guest,
# each with one vif whose backend is the driver domain (`backend=netback`),
# on a network of their own (10.0.1.0/24) that only the driver domain's
# bridge joins. Linux's netfront pings our unikernel through our netback:
# the frames go Linux → netback → its bridge → netback → our netfront, and
# the replies back. Then both guests and the driver domain are shut down.
. /rig/lib.sh
backend=netback
peer=unikernel-dd
frontend=linux-net
peer_ip=10.0.1.3
frontend_ip=10.0.1.2
unikernel_config $backend "[]" "driver_domain = 1" $backend 300

# Both ends of guest DOMID's vif 0, served by the driver domain, are Connected.
dd_vif_connected() { xs_is "/local/domain/$1/device/vif/0/state" 4 && xs_is "/local/domain/$bd/backend/vif/$1/0/state" 4; }
# Both ends of guest DOMID's vif went Closing, Closed.
dd_vif_closed() { ends_closed "/local/domain/$1/device/vif/0/state" "/local/domain/$bd/backend/vif/$1/0/state"; }

create_guest $backend "xl create starts our network driver domain (build/netback.pvh.elf, driver_domain=1)" || exit 0
bd=$domid
check $backend.serving "it greets and says it switches frames between its vifs" \
  wait_for 90 console_has $backend "Switching frames between the vifs the toolstack gives me."

[ -n "$not_run" ] || unikernel_config $peer "[]" "vif = [ 'backend=$backend,mac=$(guest_mac $peer_ip),ip=$peer_ip' ]" unikernel 300
create_guest $peer "xl create starts the unikernel with a vif whose backend is the driver domain" || exit 0
pd=$domid
check $peer.vif "its vif is Connected at both ends (our netfront, our netback)" wait_for 90 dd_vif_connected $pd
check $peer.said "it says the vif connected, with its mac and address" \
  wait_for 30 console_has $peer "Network vif 0 connected: mac $(guest_mac $peer_ip), answering pings at $peer_ip."

[ -n "$not_run" ] || linux_config $frontend "[]" "" $frontend_ip $peer_ip $backend
create_guest $frontend "xl create starts a Linux PVH guest with a vif whose backend is the driver domain" || exit 0
fe=$domid
check $frontend.boot "its /init runs (xenconsoled's log has its lines)" wait_for 150 console_has $frontend "] ready"
check $frontend.vif "its vif is Connected at both ends (Linux's netfront, our netback)" dd_vif_connected $fe
check $frontend.ping "it pinged the unikernel at $peer_ip through our netback: 3 of 3 replies" \
  console_has $frontend "eth0 pinged $peer_ip: 3 of 3 replies"
check $backend.said "the driver domain says it serves both vifs" \
  sh -c "grep -qF 'Serving vif 0 of domain $pd' /var/log/xen/console/guest-$backend.log && grep -qF 'Serving vif 0 of domain $fe' /var/log/xen/console/guest-$backend.log"

shutdown_guest $frontend "xl shutdown ends the Linux guest" "/local/domain/$bd/backend/vif/$fe/0"
domid=$pd
shutdown_guest $peer "xl shutdown ends the unikernel" "/local/domain/$bd/backend/vif/$pd/0"
check $frontend.closed "both ends of the Linux guest's vif went Closing then Closed" dd_vif_closed $fe
check $peer.closed "both ends of the unikernel's vif went Closing then Closed" dd_vif_closed $pd
domid=$bd
shutdown_guest $backend "xl shutdown reaches the network driver domain and it exits" "/local/domain/$bd/backend"
check $backend.goodbye "it took the request before exiting (its console says so)" console_has $backend "Goodbye."
[ -n "$not_run" ] || { show_linux_console $frontend; show_console $peer; show_console $backend; }
