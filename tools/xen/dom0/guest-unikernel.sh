# Our unikernel (build/unikernel.pvh.elf: the Wasm driver stack and its
# application in the native PVH host), started with a plain xl config like
# any guest, and checked from dom0's side.
. /rig/lib.sh
name=unikernel
kernel=/rig/guests/$name/unikernel.pvh.elf
[ -f $kernel ] || not_run="build/unikernel.pvh.elf was not built"

[ -n "$not_run" ] || cat >$images/$name.cfg <<CFG
name = "$name"
type = "pvh"
kernel = "$kernel"
memory = 512
disk = $(guest_disks $name)
on_poweroff = "destroy"
on_crash = "preserve"
CFG

# Its XenStore nodes: what a blkfront publishes for blkback to map its ring.
frontend_nodes() {
  for node in ring-ref event-channel protocol state; do xenstore-exists "/local/domain/$domid/device/vbd/51712/$node" || return 1; done
}
# Every state each end went through ends in Closed (6): the guest closed its devices before exiting.
closed_at_both_ends() {
  for path in "/local/domain/$domid/device/vbd/51712/state" "/local/domain/0/backend/vbd/$domid/51712/state"; do
    case " $(states_of "$path")" in *" 5 6") ;; *) echo "$path went $(states_of "$path")"; return 1 ;; esac
  done
}

create_guest $name "xl create starts the unikernel (type pvh, memory 512, two disks)" || exit 0
check $name.greeting "it greets on its PV console (xenconsoled's log has the line)" wait_for 60 console_has $name "xenbus-wasm"
check $name.store "its blkfront's XenStore nodes are there (ring-ref, event-channel, protocol, state)" frontend_nodes
disk_checks $name
skip $name.xvda.bytes "dom0 reads back from xvda's image the bytes the unikernel wrote" "${not_run:-the unikernel writes no pattern yet}"
shutdown_guest $name "xl shutdown reaches the unikernel and it exits"
check $name.closed "both ends of xvda went Closing then Closed" closed_at_both_ends
[ -n "$not_run" ] || { state_figures $name; show_console $name; }
