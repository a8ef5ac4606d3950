# A Linux PVH guest started with xl, like any guest: it writes a pattern to
# each of its disks, and its vif on dom0's bridge pings dom0, and dom0 pings
# it. Proves the rig itself (dom0, xenstored, xenconsoled, both block
# backends, Linux's netback and the bridge) before our unikernel runs.
. /rig/lib.sh
name=linux
ip=10.0.0.2
linux_config $name "$(guest_disks $name)" xvda,xvdb $ip

# The guest wrote its pattern to DISK, and the image file in dom0 holds it.
holds_pattern() { console_has $name "$1 wrote and read back" && image_holds $name "$1" "rig-linux-$1"; }

create_guest $name "xl create starts a Linux PVH guest" || exit 0
check $name.boot "its /init runs (xenconsoled's log has its lines)" wait_for 150 console_has $name "] ready"
guest $name "ready $(elapsed "$created") s after xl create"
disk_checks $name
check $name.xvda.bytes "dom0 reads back from xvda's image the bytes the guest wrote" holds_pattern xvda
check $name.xvdb.bytes "dom0 reads back from xvdb's image the bytes the guest wrote" holds_pattern xvdb
check $name.vif "its vif is Connected at both ends (Linux's netfront and netback)" wait_for 30 vif_connected
check $name.ping "it pinged dom0 through the bridge: 3 of 3 replies" console_has $name "eth0 pinged $DOM0_IP: 3 of 3 replies"
check $name.pinged "dom0 pings it at $ip through the bridge: 3 of 3 replies" pings $ip
shutdown_guest $name "xl shutdown ends the guest"
time_figures $name
state_figures $name
show_linux_console $name
