# build/checks.pvh.elf: the unikernel with its self-check (assembly/apps/checks.ts).
# It checks its XenStore client against C xenstored and writes a pattern over
# each disk; dom0 plays its part of three checks (a listing longer than a
# page, a write the guest's watch must see, a write that makes the guest's
# transaction fail with EAGAIN) through data/check/, turns each of the guest's
# "check <name>: ok|FAILED <why>" console lines into a check of its own, and
# reads the pattern back from the images.
. /rig/lib.sh
name=checks
# 2 MiB disks: under TCG, writing and reading back every sector of two 8 MiB
# disks took two to four minutes, most of the rig's run.
unikernel_config $name "$(guest_disks $name 2)"

# dom0's part, in the background: each step once the guest says it is ready for it.
LONG_NAME=a-node-name-long-enough-that-120-of-them-pass-4096-bytes-
play_dom0_part() {
  base=/local/domain/$domid/data/check
  long= watch= polls=0
  while [ $polls -lt 1200 ]; do
    polls=$((polls + 1))
    if [ -z "$long" ] && xenstore-exists $base/ready/long; then
      set --
      i=0
      while [ $i -lt 120 ]; do set -- "$@" "$base/long/$LONG_NAME$i" ""; i=$((i + 1)); done
      xenstore-write "$@" && xenstore-write $base/long-done 1
      long=1
    fi
    if [ -z "$watch" ] && xenstore-exists $base/ready/watch; then xenstore-write $base/from-dom0 hello; watch=1; fi
    if xenstore-exists $base/ready/conflict; then xenstore-write $base/conflict dom0; return; fi
    sleep 0.3
  done
}

# report_guest_checks: each "check <name>: ok (...)" / "check <name>: FAILED <why>" line as a check.
report_guest_checks() {
  tr -d '\r' <"/var/log/xen/console/guest-$name.log" | sed -n 's/^check \([^:]*\): \(.*\)$/\1 \2/p' | while read -r check outcome; do
    case $outcome in
      ok*) pass "$name.$check" "the guest's own check $check ${outcome#ok}" ;;
      *) fail "$name.$check" "the guest's own check $check" "${outcome#FAILED }" ;;
    esac
  done
}

# The guest's pattern sector N of DISK: "xenbus-wasm DISK sector N", a newline, then '.' up to 512 bytes.
pattern_sector() {
  printf 'xenbus-wasm %s sector %d\n' "$1" "$2" >/tmp/sector
  head -c $((512 - $(wc -c </tmp/sector))) /dev/zero | tr '\0' . >>/tmp/sector
}
# DISK's image holds the pattern in its first and last sectors.
image_has_pattern() {
  image=$images/$name-$1.img
  last=$(($(wc -c <"$image") / 512 - 1))
  for sector in 0 $last; do
    pattern_sector "$1" $sector
    dd if="$image" bs=512 skip=$sector count=1 2>/dev/null | cmp -s - /tmp/sector || { echo "sector $sector of $image differs"; return 1; }
  done
}

create_guest $name "xl create starts the self-checking unikernel (build/checks.pvh.elf, two disks)" || exit 0
[ -n "$not_run" ] || play_dom0_part &
check $name.finished "it runs its self-check to the end (its console says how many passed)" wait_for 240 console_has $name "checks: "
[ -n "$not_run" ] || report_guest_checks
check $name.xvda.bytes "dom0 reads its pattern back from xvda's image (first and last sector)" image_has_pattern xvda
check $name.xvdb.bytes "dom0 reads its pattern back from xvdb's image (first and last sector)" image_has_pattern xvdb
shutdown_guest $name "xl shutdown reaches it after its checks and it exits"
[ -n "$not_run" ] || show_console $name
