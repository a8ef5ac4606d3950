#!/bin/busybox sh
# /init of the Linux test guest: finds its disks, writes a pattern over the
# first 4 KiB of each and reads it back, says so on its console, then waits
# for dom0's shutdown request (Linux runs /sbin/poweroff for it).
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { read -r up _ </proc/uptime; echo "rig-guest: [$up] $*"; }
say up
insmod /xen-blkfront.ko

for disk in xvda xvdb; do
  tries=0
  while [ ! -b "/dev/$disk" ] && [ $tries -lt 150 ]; do sleep 0.2; tries=$((tries + 1)); done
  if [ ! -b "/dev/$disk" ]; then say "$disk missing"; continue; fi
  yes "rig-linux-$disk" | head -c 4096 >/tmp/pattern
  dd if=/tmp/pattern of="/dev/$disk" bs=4096 count=1 conv=fsync 2>/dev/null
  echo 3 >/proc/sys/vm/drop_caches
  if dd if="/dev/$disk" bs=4096 count=1 2>/dev/null | cmp -s - /tmp/pattern; then
    say "$disk wrote and read back 4096 bytes ($(cat /sys/block/$disk/size) sectors)"
  else
    say "$disk read back differs"
  fi
done
say ready
while :; do sleep 3600; done
