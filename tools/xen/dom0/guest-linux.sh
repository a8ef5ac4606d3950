# A Linux PVH guest started with xl, like any guest: it writes a pattern to
# each of its disks. Proves the rig itself (dom0, xenstored, xenconsoled, both
# backends) before our unikernel runs.
. /rig/lib.sh
name=linux
linux_config $name "$(guest_disks $name)" xvda,xvdb

# The guest wrote its pattern to DISK, and the image file in dom0 holds it.
holds_pattern() { console_has $name "$1 wrote and read back" && image_holds $name "$1" "rig-linux-$1"; }

create_guest $name "xl create starts a Linux PVH guest" || exit 0
check $name.boot "its /init runs (xenconsoled's log has its lines)" wait_for 150 console_has $name "] ready"
guest $name "ready $(elapsed "$created") s after xl create"
disk_checks $name
check $name.xvda.bytes "dom0 reads back from xvda's image the bytes the guest wrote" holds_pattern xvda
check $name.xvdb.bytes "dom0 reads back from xvdb's image the bytes the guest wrote" holds_pattern xvdb
shutdown_guest $name "xl shutdown ends the guest"
time_figures $name
state_figures $name
show_console $name
