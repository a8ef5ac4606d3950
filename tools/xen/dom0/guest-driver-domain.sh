# Our Wasm block backend as a driver domain: build/blkback.pvh.elf is
# started with driver_domain=1 and no disks, then a Linux PVH guest whose
# one disk names it as the backend (`backend=blkback`; its target, the
# backend's `params`, is the number of the driver domain's disk). Linux's
# blkfront writes its pattern through our backend and reads it back, and
# reads the label our backend put in the disk's last sector; dom0 checks
# the bytes with the cksum the driver domain prints when the guest goes.
. /rig/lib.sh
backend=blkback
frontend=linux-dd
unikernel_config $backend "[]" "driver_domain = 1" $backend 300

# Both ends of the Linux guest's xvda are Connected.
dd_connected() { xs_is "/local/domain/$fe/device/vbd/51712/state" 4 && xs_is "$backend_node/state" 4; }
# What dom0's cksum says of the 4 KiB the guest wrote is what the driver domain says its disk begins with.
same_cksum() {
  expected=$(yes rig-linux-xvda | head -c 4096 | cksum | cut -d ' ' -f 1)
  wait_for 30 console_has $backend "first 4096 bytes have cksum $expected." || { echo "the driver domain never said cksum $expected"; return 1; }
}
# Linux's blkfront turns flushes off, saying so, when the backend fails one.
no_failed_flush() { ! console_has $frontend "op failed" || { grep -F "op failed" "/var/log/xen/console/guest-$frontend.log"; return 1; }; }

create_guest $backend "xl create starts our block-backend driver domain (build/blkback.pvh.elf, driver_domain=1)" || exit 0
bd=$domid
check $backend.serving "it greets and says it serves its 8 MiB disk" wait_for 90 console_has $backend "Serving disk 0 (8 MiB)"

[ -n "$not_run" ] || linux_config $frontend "[ 'backend=$backend,backendtype=phy,vdev=xvda,access=rw,target=0' ]" xvda
create_guest $frontend "xl create starts a Linux PVH guest whose disk's backend is the driver domain" || exit 0
fe=$domid
backend_node=/local/domain/$bd/backend/vbd/$fe/51712
check $frontend.boot "its /init runs (xenconsoled's log has its lines)" wait_for 150 console_has $frontend "] ready"
check $frontend.connected "xvda is Connected at both ends (Linux's blkfront, our blkback)" wait_for 30 dd_connected
check $backend.said "the driver domain says it serves xvda of the Linux guest" \
  wait_for 30 console_has $backend "Serving xvda (vbd 51712) of domain $fe"
check $frontend.bytes "Linux's blkfront wrote its pattern through our backend and read it back (16384 sectors)" \
  console_has $frontend "xvda wrote and read back 4096 bytes (16384 sectors)"
check $frontend.label "it reads the label our backend put in the disk's last sector" \
  console_has $frontend "xvda last sector begins: xenbus-wasm blkback disk 0, last sector"
check $frontend.flush "its flushes (fsync) went through: its blkfront never said a flush op failed" no_failed_flush
figure ${frontend}_xvda_frontend_nodes "$(nodes_of /local/domain/$fe/device/vbd/51712)" "(XenStore nodes)"
figure ${frontend}_xvda_backend_nodes "$(nodes_of $backend_node)" "(XenStore nodes)"
[ -n "$not_run" ] || figure ${frontend}_xvda_connected "$(since "$(first_time "/local/domain/$fe")" "$(first_time "/local/domain/$fe/device/vbd/51712/state" 4)")" \
  "s after the domain's XenStore home appeared (dom0 clock, under TCG)"
shutdown_guest $frontend "xl shutdown ends the Linux guest" "$backend_node"
check $backend.data "dom0's cksum of the pattern is what the driver domain says its disk now begins with" same_cksum
check $frontend.closed "both ends of xvda went Closing then Closed" ends_closed "/local/domain/$fe/device/vbd/51712/state" "$backend_node/state"
if [ -z "$not_run" ]; then
  figure ${frontend}_xvda_frontend_states "$(states_of "/local/domain/$fe/device/vbd/51712/state")" "(XenBus states, in order)"
  figure ${frontend}_xvda_backend_states "$(states_of "$backend_node/state")" "(XenBus states, in order)"
fi
domid=$bd
shutdown_guest $backend "xl shutdown reaches the driver domain and it exits" "/local/domain/$bd/backend"
check $backend.goodbye "it took the request before exiting (its console says so)" console_has $backend "Goodbye."
[ -n "$not_run" ] || { show_linux_console $frontend; show_console $backend; }
