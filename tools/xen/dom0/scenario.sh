# The rig's scenario, run by dom0's /init once Xen's daemons are up: checks
# on dom0 itself, then each guest, one after the other: the Linux guest first
# (it proves the rig), then our unikernel, its self-checking variant, our
# block backend as a driver domain and our network backend as one. (guest-save-restore.sh, xl save and xl
# restore of the unikernel, is not in it yet: after a restore, the unikernel
# once hung closing its disk at xl shutdown; see its header.)
. /rig/lib.sh

# Xen answers xl, is 4.17, and offers HAP (PVH guests need it: Debian's Xen has no shadow paging).
xen_info() {
  xl info >/var/log/xen/xl-info.txt || return 1
  grep -q "^xen_major *: 4$" /var/log/xen/xl-info.txt && grep -q "^xen_minor *: 17$" /var/log/xen/xl-info.txt &&
    grep -q "^virt_caps.* hap" /var/log/xen/xl-info.txt
}

stage "scenario starts"
start_event_log
check xen.info "xl info answers: Xen 4.17 with HAP" xen_info
check dom0.store "xen-init-dom0 wrote dom0's name into XenStore" xs_is /local/domain/0/name Domain-0
check dom0.bridge "dom0's bridge $BRIDGE is up at $DOM0_IP/24 for the guests' vifs" make_bridge
sh /rig/guest-linux.sh
sh /rig/guest-unikernel.sh
sh /rig/guest-checks.sh
sh /rig/guest-driver-domain.sh
sh /rig/guest-net-driver-domain.sh
