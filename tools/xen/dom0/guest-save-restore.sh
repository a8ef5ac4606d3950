# xl save and xl restore of our unikernel (build/unikernel.pvh.elf) with a
# disk on Linux's xen-blkback: the toolstack's "suspend" request reaches it
# through control/shutdown, it suspends (SCHEDOP_shutdown, SHUTDOWN_suspend),
# xl writes its image; restored, it is a new domain to Xen and xenstored, and
# it must find its store and console again, say so, and connect its disk anew.
# Not in scenario.sh yet: it passed 3 runs of 4, and in the fourth (a clean-clone
# CI run) the restored unikernel took xl shutdown ("closing my disks") but
# never finished closing its disk nor returned. Add it back once that is
# understood (does the restored domain's Xen clock move for its 5 s deadline?
# does blkback answer Closing?).
. /rig/lib.sh
name=saved
# 300 MiB, the least the kernel's placement allows with room to spare: xl saves every page into dom0's memory.
unikernel_config $name "[ 'file:$images/$name-xvda.img,xvda,w' ]" "" unikernel 300
[ -n "$not_run" ] || dd if=/dev/zero of="$images/$name-xvda.img" bs=1M count=8 2>/dev/null

# xl writes the whole guest into the image: a tmpfs of its own, since dom0's root (its
# initramfs) is too full for it (ENOSPC at 200 MiB).
saved=/var/lib/rig-save
mkdir -p $saved && mount -t tmpfs -o size=400m tmpfs $saved
save() { xl save $name "$saved/$name.save" >/var/log/xen/xl-save.log 2>&1 || { tail -n 1 /var/log/xen/xl-save.log; return 1; }; }
restore() { xl restore "$saved/$name.save" >/var/log/xen/xl-restore.log 2>&1 || { tail -n 1 /var/log/xen/xl-restore.log; return 1; }; }
said_resumed() { console_has $name "Resumed."; }
connected_again() { connected 51712 vbd; }
no_device_error() { ! xenstore-exists "/local/domain/$domid/error/device" || { xenstore-ls -f "/local/domain/$domid/error"; return 1; }; }

create_guest $name "xl create starts the unikernel to save (memory 300, one disk)" || exit 0
check $name.connected "xvda is Connected at both ends" wait_for 90 connected 51712 vbd
[ -n "$not_run" ] || { guest $name "xl save"; started=$(now); }
check $name.save "xl save: it takes the suspend request and suspends, and xl writes its image" save
[ -n "$not_run" ] || { figure ${name}_xl_save "$(elapsed "$started")" "s (dom0 clock, under TCG)"; guest $name "xl restore"; started=$(now); }
check $name.restore "xl restore starts it again from the image" restore
[ -n "$not_run" ] || { figure ${name}_xl_restore "$(elapsed "$started")" "s (dom0 clock, under TCG)"; domid=$(domid_of $name); guest $name "restored as domain $domid"; }
check $name.resumed "it says it resumed (its console, through the console page it found again)" wait_for 60 said_resumed
check $name.reconnected "xvda is Connected again at both ends, in the restored domain" wait_for 60 connected_again
check $name.noerror "it reported no device error (its old event channels went with the old domain)" no_device_error
shutdown_guest $name "xl shutdown reaches the restored unikernel and it exits" "/local/domain/0/backend/vbd/$domid/51712"
[ -n "$not_run" ] || show_console $name
