# Our unikernel (build/unikernel.pvh.elf: the Wasm driver stack and its
# application in the native PVH host), started with a plain xl config like
# any guest, with two disks and a vif on dom0's bridge (Linux's netback),
# and checked from dom0's side: its disks, and dom0 pings it.
. /rig/lib.sh
name=unikernel
ip=10.0.0.3
mac=$(guest_mac $ip)
unikernel_config $name "" "vif = [ 'bridge=$BRIDGE,mac=$mac,ip=$ip' ]"

# Its XenStore nodes: what a blkfront publishes for blkback to map its ring
# (one page at ring-ref, or 2^ring-page-order pages at ring-ref0...).
frontend_nodes() {
  vbd=/local/domain/$domid/device/vbd/51712
  xenstore-exists $vbd/ring-ref || xenstore-exists $vbd/ring-ref0 || { echo "$vbd has neither ring-ref nor ring-ref0"; return 1; }
  for node in event-channel protocol; do xenstore-exists $vbd/$node || { echo "$vbd/$node is missing"; return 1; }; done
  [ "$(xenstore-read $vbd/protocol)" = x86_64-abi ] || { echo "$vbd/protocol is $(xenstore-read $vbd/protocol)"; return 1; }
}
# Hot-unplug: xl block-detach xvda; the guest lets it go (says so) and its backend is gone.
detach_xvda() {
  xl block-detach $name xvda || return 1
  wait_for 60 console_has $name "Disk xvda (vbd 51712) disconnected." || { echo "it never said xvda disconnected"; return 1; }
  wait_for 30 sh -c "! xenstore-exists /local/domain/0/backend/vbd/$domid/51712" || { echo "xvda's backend is still there"; return 1; }
}
# Re-plug: xl block-attach the same image; the guest connects it again (a second "connected" line).
attach_xvda() {
  xl block-attach $name "file:$images/$name-xvda.img,xvda,w" || return 1
  wait_for 60 connected 51712 vbd || return 1
  wait_for 30 said_connected_twice || { echo "it did not say xvda connected again"; return 1; }
}
said_connected_twice() { [ "$(grep -c 'Disk xvda (vbd 51712) connected' /var/log/xen/console/guest-$name.log)" -ge 2 ]; }
# It took the shutdown request and closed its disks before returning from main.
said_goodbye() { console_has $name "Shutdown requested (poweroff): closing my disks and vifs." && console_has $name "Goodbye."; }
# Every state each end of xvda and the vif went through ends in Closed (6): the guest closed its devices before exiting.
closed_at_both_ends() {
  ends_closed "/local/domain/$domid/device/vbd/51712/state" "/local/domain/0/backend/vbd/$domid/51712/state" \
    "/local/domain/$domid/device/vif/0/state" "/local/domain/0/backend/vif/$domid/0/state"
}

create_guest $name "xl create starts the unikernel (type pvh, memory 512, two disks)" || exit 0
check $name.greeting "it greets on its PV console with its domid read from XenStore (xenconsoled's log has the line)" \
  wait_for 90 console_has $name "Hello from a Wasm unikernel on Xen: I am domain $domid." && greeted=$(now)
check $name.store "its blkfront published its ring, event channel and protocol (x86_64-abi) in XenStore" frontend_nodes
figure ${name}_xvda_ring_pages "$((1 << $(xenstore-read /local/domain/$domid/device/vbd/51712/ring-page-order 2>/dev/null || echo 0)))" pages
disk_checks $name
# What each end of xvda holds once Connected (the simulated run is compared with it).
figure ${name}_xvda_frontend_nodes "$(nodes_of /local/domain/$domid/device/vbd/51712)" "(XenStore nodes)"
figure ${name}_xvda_backend_nodes "$(nodes_of /local/domain/0/backend/vbd/$domid/51712)" "(XenStore nodes)"
check $name.xvda.said "it says xvda connected, 8 MiB" wait_for 30 console_has $name "Disk xvda (vbd 51712) connected: 8 MiB"
check $name.xvdb.said "it says xvdb connected, 8 MiB" wait_for 30 console_has $name "Disk xvdb (vbd 51728) connected: 8 MiB"
check $name.vif "its vif is Connected at both ends (our netfront, Linux's netback)" wait_for 60 vif_connected
check $name.vif.said "it says the vif connected, with its mac and address" \
  wait_for 30 console_has $name "Network vif 0 connected: mac $mac, answering pings at $ip."
check $name.pinged "dom0 pings it at $ip through the bridge: 3 of 3 replies" pings $ip
figure ${name}_vif_frontend_nodes "$(nodes_of /local/domain/$domid/device/vif/0)" "(XenStore nodes)"
figure ${name}_vif_backend_nodes "$(nodes_of /local/domain/0/backend/vif/$domid/0)" "(XenStore nodes)"
check $name.detach "xl block-detach xvda: it lets the disk go and says so, and the backend is removed" detach_xvda
check $name.attach "xl block-attach xvda again: it connects the disk again and says so" attach_xvda
shutdown_guest $name "xl shutdown reaches the unikernel and it exits"
check $name.closed "both ends of xvda and of the vif went Closing then Closed" closed_at_both_ends
check $name.goodbye "it took the request and closed its disks and vif before exiting (its console says so)" said_goodbye
if [ -z "$not_run" ]; then
  time_figures $name "$greeted"
  state_figures $name
  figure ${name}_vif_frontend_states "$(states_of "/local/domain/$domid/device/vif/0/state")" "(XenBus states, in order)"
  figure ${name}_vif_backend_states "$(states_of "/local/domain/0/backend/vif/$domid/0/state")" "(XenBus states, in order)"
  show_console $name
fi
