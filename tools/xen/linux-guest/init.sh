#!/bin/busybox sh
# /init of the Linux test guest: finds its disks (xvda and xvdb, or those
# its xl config lists in the kernel parameter rig_disks=xvda,..., none for
# an empty rig_disks=), writes a
# pattern over the first 4 KiB of each and reads it back, says so and what
# the disk's last sector begins with on its console; given rig_ip=ADDRESS,
# brings its vif (eth0) up at ADDRESS/24 and pings rig_ping (default: the
# .1 of that network, dom0); then waits for dom0's shutdown request (Linux
# runs /sbin/poweroff for it).
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { read -r up _ </proc/uptime; echo "rig-guest: [$up] $*"; }
say up
insmod /xen-blkfront.ko
insmod /xen-netfront.ko

# Linux hands init the kernel parameters it does not know as environment variables.
for disk in $(echo "${rig_disks-xvda,xvdb}" | tr , ' '); do
  tries=0
  while [ ! -b "/dev/$disk" ] && [ $tries -lt 150 ]; do sleep 0.2; tries=$((tries + 1)); done
  if [ ! -b "/dev/$disk" ]; then say "$disk missing"; continue; fi
  yes "rig-linux-$disk" | head -c 4096 >/tmp/pattern
  dd if=/tmp/pattern of="/dev/$disk" bs=4096 count=1 conv=fsync 2>/dev/null
  echo 3 >/proc/sys/vm/drop_caches
  if dd if="/dev/$disk" bs=4096 count=1 2>/dev/null | cmp -s - /tmp/pattern; then
    sectors=$(cat /sys/block/$disk/size)
    say "$disk wrote and read back 4096 bytes ($sectors sectors)"
    say "$disk last sector begins: $(dd if=/dev/$disk bs=512 skip=$((sectors - 1)) count=1 2>/dev/null | tr -d '\0' | head -n 1)"
  else
    say "$disk read back differs"
  fi
done
if [ -n "$rig_ip" ]; then
  tries=0
  while [ ! -e /sys/class/net/eth0 ] && [ $tries -lt 150 ]; do sleep 0.2; tries=$((tries + 1)); done
  if ip addr add "$rig_ip/24" dev eth0 && ip link set eth0 up; then
    say "eth0 up at $rig_ip, mac $(cat /sys/class/net/eth0/address)"
    peer=${rig_ping:-${rig_ip%.*}.1}
    replies=$(ping -c 3 -W 10 "$peer" | grep -c "bytes from")
    say "eth0 pinged $peer: $replies of 3 replies"
  else
    say "eth0 missing"
  fi
fi
say ready
while :; do sleep 3600; done
