# The rig's report lines and the waits the checks share. Every line meant for
# the host starts with "RIG <dom0 uptime in s>" (dom0's clock is Xen's), so
# the host can tell them from Xen's and Linux's own output on the serial line:
#   RIG <t> stage <text>              a step of the boot or the scenario
#   RIG <t> guest <name> <text>       what happens to a guest
#   RIG <t> pass <id> <text>          a check that held
#   RIG <t> fail <id> <text> :: <why> a check that did not
#   RIG <t> skip <id> <text> :: <why> a check that could not run
#   RIG <t> figure <name> <value> :: <unit>
#   RIG <t> log <name> <line>         a guest's console, kept with the serial log
#   RIG <t> problem <text>            the run is lost (the host stops it)
#   RIG <t> end                       the scenario finished

# Every fork costs a lot under TCG: these read the clock without one.
now() { read -r up _ </proc/uptime; echo "$up"; }
rig() { read -r up _ </proc/uptime; echo "RIG $up $*"; }
stage() { rig stage "$*"; }
guest() { [ -n "$not_run" ] || rig guest "$@"; }
pass() { rig pass "$1" "$2"; }
fail() { rig fail "$1" "$2 :: $3"; : >/tmp/rig-failed; }
skip() { rig skip "$1" "$2 :: $3"; }
figure() { [ -n "$not_run" ] || rig figure "$1" "$2 :: $3"; }

# The serial line, for what must reach the host from inside a check (whose output check captures).
exec 3>&1

# panic_check: a guest's kernel that panicked ends the run, which the host
# boots once more (under TCG a Linux PVH guest has panicked early in a few
# runs, "stack guard page was hit"); without this the checks would wait on
# the dead guest until the run is cut off.
panic_check() {
  line=$(grep -H -m 1 "Kernel panic" /var/log/xen/console/guest-*.log 2>/dev/null) || return 0
  # The oops before the panic, for the serial log: the host stops the run at the problem line.
  log=${line%%:*}
  name=${log#/var/log/xen/console/guest-}
  tail -n 80 "$log" | log_lines "${name%.log}" >&3
  rig problem "a guest's kernel panicked: ${line#/var/log/xen/console/}" >&3
}

# Set to a reason, every check is reported as not run (its guest cannot be started).
not_run=

# check ID TEXT COMMAND...: passes when COMMAND succeeds; else fails with its
# last line of output, and all of that output goes to the serial log.
check() {
  id=$1 text=$2
  shift 2
  if [ -n "$not_run" ]; then skip "$id" "$text" "$not_run"; return 0; fi
  if out=$("$@" 2>&1); then pass "$id" "$text"; return 0; fi
  echo "$out" | log_lines "$id"
  fail "$id" "$text" "$(echo "$out" | tail -n 1)"
  return 1
}

# centis: dom0's uptime in hundredths of a second, into $centis.
centis() { read -r up _ </proc/uptime; centis=$((${up%.*} * 100 + 1${up#*.} - 100)); }

# wait_for SECONDS COMMAND...: retries COMMAND every 0.2 s until it succeeds or
# time runs out (then runs it once more, so its complaint is what check shows).
wait_for() {
  centis
  deadline=$((centis + $1 * 100)) tries=0
  shift
  until "$@" >/dev/null 2>&1; do
    centis
    [ $centis -le $deadline ] || { "$@"; return 1; }
    # Every 5 s: a grep is a fork, and forks are slow under TCG.
    tries=$((tries + 1))
    [ $((tries % 25)) -ne 0 ] || panic_check
    sleep 0.2
  done
}

# elapsed FROM: seconds from uptime FROM to now, two decimals.
elapsed() { awk -v from="$1" -v now="$(now)" 'BEGIN { printf "%.2f", now - from }'; }

# xs_is PATH VALUE: XenStore node PATH holds VALUE.
xs_is() { [ "$(xenstore-read "$1" 2>/dev/null)" = "$2" ]; }

# console_has NAME TEXT: xenconsoled's log of guest NAME has a line containing TEXT.
console_has() { grep -qF "$2" "/var/log/xen/console/guest-$1.log" 2>/dev/null; }

# domid_of NAME: the domain id xl knows guest NAME by.
domid_of() { xl domid "$1" 2>/dev/null; }

# states_of PATH: the values written to XenStore node PATH (/local/domain/N/...),
# in order, from xenstored's trace. The toolstack writes absolute paths, Linux's
# drivers and ours paths relative to their domain's home ("device/vbd/51712/state"):
# a relative write under a guest's home counts from that guest's INTRODUCE to its
# RELEASE (no two guests alive at once write the same relative path here: the
# driver domain's nodes are backend/..., its frontend's device/...).
states_of() {
  relative=${1#/local/domain/*/}
  dom=${1#/local/domain/}
  dom=${dom%%/*}
  awk -v abs="$1" -v rel="$relative" -v dom="$dom" '
    /^IN / && index($0, " INTRODUCE (" dom " ") { on = 1 }
    /^IN / && index($0, " RELEASE (" dom " ") { on = 0 }
    {
      for (i = 0; i < 2; i++) {
        if (i == 1 && dom != 0 && !on) continue
        key = " WRITE (" (i == 0 ? abs : rel) " "
        at = index($0, key)
        if (at) { value = substr($0, at + length(key)); sub(/\).*/, "", value); printf "%s ", value }
      }
    }' /var/log/xen/xenstored-trace.log | sed 's/ $//'
}

# ends_closed PATH...: every state each XenStore state node PATH went
# through (from xenstored's trace) ends in Closing, Closed (5 6).
ends_closed() {
  for path in "$@"; do
    case " $(states_of "$path")" in *" 5 6") ;; *) echo "$path went $(states_of "$path")"; return 1 ;; esac
  done
}

# nodes_of PATH: the names of PATH's children, sorted, on one line.
nodes_of() { xenstore-list "$1" 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'; }

# start_event_log: every XenStore change under /local/domain, stamped with
# dom0's uptime as it arrives (with the new value for .../state nodes), in
# /var/log/xen/xs-events.log: the times of guest milestones come from it.
start_event_log() {
  xenstore-watch /local/domain | while read -r path _; do
    read -r up _ </proc/uptime
    case $path in */state) echo "$up $path $(xenstore-read "$path" 2>/dev/null)" ;; *) echo "$up $path" ;; esac
  done >/var/log/xen/xs-events.log &
}

# first_time PATH [VALUE]: dom0's uptime when PATH (or, without VALUE, a node under it) first changed (to VALUE).
first_time() {
  awk -v path="$1" -v value="$2" '($2 == path && (value == "" || $3 == value)) || (value == "" && index($2, path "/") == 1) { print $1; exit }' \
    /var/log/xen/xs-events.log
}

# since FROM TO: seconds from uptime FROM to uptime TO (empty if TO is).
since() { [ -n "$2" ] && awk -v from="$1" -v to="$2" 'BEGIN { printf "%.2f", to - from }'; }

# log_lines NAME: standard input as log lines for the host (one process, not one per line).
log_lines() {
  read -r up _ </proc/uptime
  tr -d '\r' | awk -v prefix="RIG $up log $1" '{ print prefix " " $0 }'
}

# show_console NAME: the guest's console log, as log lines for the host.
show_console() {
  [ -f "/var/log/xen/console/guest-$1.log" ] && log_lines "$1" <"/var/log/xen/console/guest-$1.log"
}

# show_linux_console NAME: a Linux guest's console (its whole boot log) only
# once a check has failed: under TCG the serial line drains slowly, and a
# long log written just before dom0 powers off was cut, with the end line.
show_linux_console() { [ ! -f /tmp/rig-failed ] || show_console "$1"; }

# --- Guests. Each has two disks (8 MiB unless said): xvda served by Linux's
# xen-blkback (file: over a loop device), xvdb by QEMU's qdisk. Devids: xvda
# 51712, xvdb 51728.
images=/var/lib/rig

# guest_disks NAME [MIB]: makes NAME's disk images and prints the xl config's disk list.
guest_disks() {
  for disk in xvda xvdb; do dd if=/dev/zero of="$images/$1-$disk.img" bs=1M count="${2:-8}" 2>/dev/null; done
  echo "[ 'file:$images/$1-xvda.img,xvda,w', 'format=raw,vdev=xvdb,access=rw,backendtype=qdisk,target=$images/$1-xvdb.img' ]"
}

# unikernel_config NAME [DISKS [LINE [MODULE [MIB]]]]: the xl config of guest NAME
# running our unikernel build/MODULE.pvh.elf (MODULE: NAME), a plain PVH guest of
# MIB MiB (512) with the two disks (or the xl disk list DISKS, and one more
# config LINE); sets not_run instead when the ELF was not built.
unikernel_config() {
  kernel=/rig/guests/${4:-$1}/${4:-$1}.pvh.elf
  [ -f "$kernel" ] || { not_run="build/${4:-$1}.wasm was not built"; return 0; }
  cat >"$images/$1.cfg" <<CFG
name = "$1"
type = "pvh"
kernel = "$kernel"
memory = ${5:-512}
disk = ${2:-$(guest_disks "$1")}
on_poweroff = "destroy"
on_crash = "preserve"
on_reboot = "preserve"
$3
CFG
}

# linux_config NAME DISKS RIG_DISKS [IP [PEER [BACKEND]]]: the xl config of a
# Linux PVH guest (the rig's kernel and /init) with the xl disk list DISKS,
# whose /init uses the disks RIG_DISKS (comma-separated); given IP (10.0.x.N),
# a vif with the mac 00:16:3e:00:00:N, on dom0's bridge or served by the
# driver domain BACKEND, which the guest brings up at IP to ping PEER (dom0,
# 10.0.x.1, by default).
linux_config() {
  # A distribution kernel probes for hardware a PVH guest does not have, slowly
  # under TCG: skip TSC calibration against a PIT (the frequency comes from Xen),
  # PCI, serial ports and the crypto self-tests.
  tsc_khz=$(awk '/^cpu_mhz/ { printf "%d", $3 * 1000 }' /var/log/xen/xl-info.txt)
  fast_boot="tsc_early_khz=$tsc_khz pci=off 8250.nr_uarts=0 cryptomgr.notests mitigations=off"
  vif=
  if [ -n "$6" ]; then vif="'backend=$6,mac=$(guest_mac "$4")'"; elif [ -n "$4" ]; then vif="'bridge=$BRIDGE,mac=$(guest_mac "$4")'"; fi
  cat >"$images/$1.cfg" <<CFG
name = "$1"
type = "pvh"
kernel = "/rig/guests/linux/vmlinux"
ramdisk = "/rig/guests/linux/linux-guest.cpio"
extra = "console=hvc0 $fast_boot rig_disks=$3${4:+ rig_ip=$4}${5:+ rig_ping=$5}"
memory = 256
vcpus = 1
disk = $2
vif = [ $vif ]
on_poweroff = "destroy"
on_crash = "preserve"
on_reboot = "preserve"
CFG
}

# --- The network: dom0's bridge, which every guest's vif joins (xl's
# vif-bridge hotplug script adds it), at 10.0.0.1/24.
BRIDGE=xenbr0
DOM0_IP=10.0.0.1

# make_bridge: dom0's bridge, up, at DOM0_IP (busybox's brctl and ip). A new
# bridge runs no STP; with no forwarding delay a port forwards as it joins.
make_bridge() {
  brctl addbr $BRIDGE && echo 0 >/sys/class/net/$BRIDGE/bridge/forward_delay &&
    ip addr add $DOM0_IP/24 dev $BRIDGE && ip link set $BRIDGE up
}

# guest_mac IP: the mac of the guest at IP (10.0.0.N): Xen's OUI, then N.
guest_mac() { printf "00:16:3e:00:00:%02x" "${1##*.}"; }

# pings IP: dom0 pings IP three times through the bridge and has every reply.
pings() { ping -c 3 -W 10 "$1" | grep -q "3 packets received"; }

# xl_create NAME: xl -vvv create, its output kept in /var/log/xen/xl-create-NAME.log.
xl_create() {
  xl -vvv create "$images/$1.cfg" >"/var/log/xen/xl-create-$1.log" 2>&1 || { tail -n 1 "/var/log/xen/xl-create-$1.log"; return 1; }
}

# create_guest NAME TEXT: xl create with $images/NAME.cfg; sets domid and created (dom0 uptime at xl create).
create_guest() {
  [ -z "$not_run" ] || rig guest "$1" "not started: $not_run"
  guest "$1" "xl create"
  created=$(now)
  check "$1.create" "$2" xl_create "$1" || return 1
  [ -z "$not_run" ] || return 0
  domid=$(domid_of "$1")
  guest "$1" "domain $domid created; xl create took $(elapsed "$created") s"
  figure "${1}_xl_create" "$(elapsed "$created")" "s (dom0 clock, under TCG)"
}

# time_figures NAME [GREETED]: from the moment the domain's XenStore home
# appeared, the time to its frontend's first state write (Initialised: it is
# connected to XenStore by then), to the greeting (uptime GREETED, when dom0
# saw it), and to xvda Connected; dom0's clock, from the event log.
time_figures() {
  born=$(first_time "/local/domain/$domid")
  [ -n "$born" ] || return 0
  unit="s after the domain's XenStore home appeared (dom0 clock, under TCG)"
  [ -z "$2" ] || figure "${1}_greeting_seen" "$(since "$born" "$2")" "$unit"
  figure "${1}_xvda_initialised" "$(since "$born" "$(first_time "/local/domain/$domid/device/vbd/51712/state" 3)")" "$unit"
  figure "${1}_xvda_connected" "$(since "$born" "$(first_time "/local/domain/$domid/device/vbd/51712/state" 4)")" "$unit"
}

# connected DEVID BACKEND: both ends of the guest's disk DEVID are Connected (XenbusStateConnected = 4).
connected() { xs_is "/local/domain/$domid/device/vbd/$1/state" 4 && xs_is "/local/domain/0/backend/$2/$domid/$1/state" 4; }
# vif_connected: both ends of the guest's vif 0 are Connected.
vif_connected() { xs_is "/local/domain/$domid/device/vif/0/state" 4 && xs_is "/local/domain/0/backend/vif/$domid/0/state" 4; }

# disk_checks NAME: both disks Connected, and the times they took, from xl create.
disk_checks() {
  check "$1.blkback" "xvda (Linux's xen-blkback, file: over a loop device) is Connected at both ends" wait_for 60 connected 51712 vbd
  check "$1.qdisk" "xvdb (QEMU's qdisk) is Connected at both ends" wait_for 60 connected 51728 qdisk
}

# image_holds NAME DISK TEXT: the first 4 KiB of NAME's DISK image are TEXT repeated.
image_holds() {
  yes "$3" | head -c 4096 >/tmp/expected
  head -c 4096 "$images/$1-$2.img" | cmp - /tmp/expected
}

# state_figures NAME: each disk's state sequence at both ends, from xenstored's trace.
state_figures() {
  figure "${1}_xvda_frontend_states" "$(states_of "/local/domain/$domid/device/vbd/51712/state")" "(XenBus states, in order)"
  figure "${1}_xvda_backend_states" "$(states_of "/local/domain/0/backend/vbd/$domid/51712/state")" "(XenBus states, in order)"
  figure "${1}_xvdb_frontend_states" "$(states_of "/local/domain/$domid/device/vbd/51728/state")" "(XenBus states, in order)"
  figure "${1}_xvdb_backend_states" "$(states_of "/local/domain/0/backend/qdisk/$domid/51728/state")" "(XenBus states, in order)"
}

# gone NAME [BACKEND...]: the domain, its XenStore home and its disks' backend
# nodes (dom0's for xvda and xvdb, or the BACKEND paths given) are gone.
gone() {
  local name=$1
  shift
  [ $# -gt 0 ] || set -- "/local/domain/0/backend/vbd/$domid/51712" "/local/domain/0/backend/qdisk/$domid/51728"
  if xl domid "$name" >/dev/null 2>&1; then echo "xl still lists $name"; return 1; fi
  for path in "/local/domain/$domid" "$@"; do
    if xenstore-exists "$path"; then echo "$path is still there"; return 1; fi
  done
}

# shutdown_guest NAME TEXT [BACKEND...]: xl shutdown, then the domain must be gone, with
# its backend nodes (see gone; a crash or a reboot is preserved by the configs'
# on_crash and on_reboot: it fails here).
shutdown_guest() {
  local name=$1 what=$2
  shift 2
  guest "$name" "xl shutdown"
  check "$name.shutdown" "$what" timeout 90 xl shutdown -w "$name"
  check "$name.gone" "its domain, XenStore home and backend nodes are gone" wait_for 90 gone "$name" "$@"
}
