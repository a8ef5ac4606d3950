#!/bin/busybox sh
# dom0's /init: the system a Xen host runs (xenstored, xen-init-dom0,
# xenconsoled, Linux's backends), then the rig's scenario, then power off.
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /rig/lib.sh

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
# Without udev these are missing, and the block hotplug script's lock loops forever on them.
ln -sf /proc/self/fd /dev/fd
ln -sf fd/0 /dev/stdin
ln -sf fd/1 /dev/stdout
ln -sf fd/2 /dev/stderr
stage "dom0 is up (Linux $(uname -r))"

while read -r module; do
  insmod "/rig/modules/$module.ko" || fail dom0.modules "dom0 loads Xen's backend modules and the bridge" "insmod $module failed"
done </rig/modules/order
mount -t xenfs xenfs /proc/xen

# The trace records every request in order: the scenario reads state sequences from it.
/usr/lib/xen-4.17/bin/xenstored --pid-file /var/run/xenstored.pid -T /var/log/xen/xenstored-trace.log
if wait_for 30 xenstore-read /; then
  stage "xenstored answers"
else
  fail dom0.xenstored "xenstored answers" "no answer in 30 s"
fi
/usr/lib/xen-4.17/bin/xen-init-dom0 >/var/log/xen/xen-init-dom0.log 2>&1 || fail dom0.init "xen-init-dom0 runs" "$(tail -n 1 /var/log/xen/xen-init-dom0.log)"
/usr/lib/xen-4.17/bin/xenconsoled --pid-file=/var/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
stage "xenconsoled started"

sh /rig/scenario.sh

rig end
# When a check failed, what Xen's tools logged goes to the serial log too.
if [ -f /tmp/rig-failed ]; then
  for log in /var/log/xen/*.log; do
    case $log in */xenstored-trace.log) continue ;; esac
    log_lines "${log##*/}" <"$log"
  done
fi
# Let the console drain before the machine goes: poweroff -f does not wait for
# it (on a loaded host 2 s once lost the last lines, "end" among them).
sleep 5
poweroff -f
