/* cocoon_measure_help.c: the manual page text of cocoon-measure (--help). */
#include "tools/cocoon_measure.h"

#include <stdio.h>
#include <string.h>

#include "tee/vmsa.h"

static const char HELP_HEAD[] =
    "NAME\n"
    "    cocoon-measure - compute a confidential guest's launch measurement offline\n"
    "\n"
    "SYNOPSIS\n"
    "    cocoon-measure --mode snp|seves|sev|snp:ovmf-hash|snp:svsm --ovmf FILE\n"
    "                   [--kernel FILE [--initrd FILE] [--append CMDLINE]]\n"
    "                   --vcpus N (--vcpu-type NAME | --vcpu-sig N |\n"
    "                              --vcpu-family F --vcpu-model M --vcpu-stepping S)\n"
    "                   [--vmm-type QEMU|ec2|gce] [--guest-features N] [--snp-ovmf-hash HEX]\n"
    "                   [--svsm FILE (--vars-size N | --vars-file FILE)]\n"
    "                   [--vmsa-mxcsr N] [--vmsa-fcw N] [--dump-vmsa] [-v]\n"
    "                   [--output-format hex|base64] [--format text|json]\n"
    "    cocoon-measure tdx --firmware FILE [--page-order per-page|per-section]\n"
    "                   [--format text|json]\n"
    "    cocoon-measure --help | --version\n"
    "\n"
    "DESCRIPTION\n"
    "    Prints the launch measurement an AMD SEV / SEV-ES / SEV-SNP guest or an Intel TDX\n"
    "    guest will report, before it runs, so that a key broker can release secrets only to\n"
    "    that exact firmware, kernel, initrd and command line. The SEV modes are a drop-in\n"
    "    for sev-snp-measure: the same flags print the same text and refuse the same\n"
    "    invalid inputs. The layout (firmware placement, metadata pages, VMSAs, kernel-hashes\n"
    "    table) is the one cocoon's own VMM launches with: both use tee/launch_plan.h.\n"
    "\n"
    "SEV MODES\n"
    "    --mode snp          SEV-SNP launch digest (report field MEASUREMENT, SHA-384).\n"
    "    --mode seves        SEV-ES GCTX.LD (SHA-256 over firmware, hashes table, VMSAs).\n"
    "    --mode sev          SEV GCTX.LD (SHA-256 over firmware and hashes table).\n"
    "    --mode snp:ovmf-hash\n"
    "                        Only the digest after the firmware pages: a seed for\n"
    "                        --snp-ovmf-hash, so later runs need not hash the firmware.\n"
    "    --mode snp:svsm     SEV-SNP with a COCONUT-SVSM image placed below OVMF and its\n"
    "                        VARS store (QEMU only).\n"
    "\n"
    "SEV OPTIONS\n"
    "    --ovmf FILE         The firmware exactly as given to the VMM (the whole OVMF.fd for\n"
    "                        QEMU -bios; it is placed to end at 4 GiB).\n"
    "    --kernel FILE       bzImage given to -kernel. Its SHA-256 goes into the SEV\n"
    "                        kernel-hashes table; needs a firmware built with that table\n"
    "                        (OvmfPkg/AmdSev). Plain OvmfPkgX64 builds (e.g. Debian's\n"
    "                        OVMF.fd) are refused: they would not measure the kernel.\n"
    "    --initrd FILE       initrd (needs --kernel); absent = SHA-256 of no bytes.\n"
    "    --append CMDLINE    kernel command line (needs --kernel); hashed with its NUL.\n"
    "    --vcpus N           number of vCPUs; one VMSA each (not needed for --mode sev).\n"
    "    --vcpu-type NAME    the QEMU -cpu model of the guest (not the host CPU); one of:\n"
    "                        ";

static const char HELP_TAIL[] =
    "    --vcpu-sig N        raw CPUID Fn0000_0001_EAX signature (e.g. 0xa00f11).\n"
    "    --vcpu-family F --vcpu-model M --vcpu-stepping S\n"
    "                        signature from its parts (decimal).\n"
    "    --vmm-type T        QEMU (default), ec2 or gce: initial register state and page\n"
    "                        types differ (EC2/GCE ignore the vCPU signature).\n"
    "    --guest-features N  VMSA SEV_FEATURES (default 0x1 = SNPActive). Hosts whose\n"
    "                        kvm_amd enables debug_swap (Linux >= 6.6) launch with 0x21.\n"
    "    --snp-ovmf-hash HEX start from this 96-hex-digit firmware digest (from\n"
    "                        --mode snp:ovmf-hash) instead of hashing the firmware pages;\n"
    "                        --ovmf is still read for its metadata.\n"
    "    --svsm FILE         SVSM image (snp:svsm).\n"
    "    --vars-size N | --vars-file FILE\n"
    "                        size of the OVMF_VARS store between SVSM and OVMF (snp:svsm).\n"
    "    --vmsa-mxcsr N, --vmsa-fcw N\n"
    "                        initial MXCSR / x87 FCW in the VMSAs. Default for QEMU: 0x1f80\n"
    "                        and 0x37f (host Linux >= 6.10); use 0 for older host kernels.\n"
    "                        EC2 and GCE default to 0.\n"
    "    --dump-vmsa         also write the measured VMSAs to vmsa<N>.bin.\n"
    "    --output-format F   hex (default) or base64 for the text output.\n"
    "    -v, --verbose       prefix the value with \"Calculated <MODE> guest measurement:\".\n"
    "\n"
    "TDX MODE\n"
    "    cocoon-measure tdx --firmware FILE prints the MRTD of a TDVF/OVMF image and the\n"
    "    SHA-384 of its CFV (the variable store, the RTMR0 event for it). MRTD depends only\n"
    "    on the firmware and the order in which the VMM adds and extends its pages:\n"
    "    --page-order per-page      PAGE.ADD then its 16 MR.EXTENDs, page by page (default;\n"
    "                               upstream Linux KVM, QEMU >= 9, td-shim, tdx-measure).\n"
    "    --page-order per-section   all PAGE.ADDs of a section, then all its MR.EXTENDs\n"
    "                               (Intel QEMU 8.2 TDX trees, Ubuntu 24.04 TDX stack).\n"
    "\n"
    "OUTPUT\n"
    "    SEV modes print the digest as lowercase hex (or base64) and a newline, exactly like\n"
    "    sev-snp-measure. TDX prints \"MRTD: <hex>\" and \"CFV-SHA384: <hex>\" lines.\n"
    "    --format json prints one JSON object instead; the field names are listed in the\n"
    "    README section \"cocoon-measure (for policy authors)\".\n"
    "\n"
    "NOTES\n"
    "    The value only matches if every input matches the real launch: the exact firmware\n"
    "    file, the guest's -cpu model (not the host's CPU), the SEV features the host KVM\n"
    "    sets, and the host kernel's initial FPU state. Firmware files that the VMM would not\n"
    "    launch as measured (duplicate table GUIDs, overlapping or unaligned metadata\n"
    "    sections, a hashes table outside its page, a size that is not whole pages) are\n"
    "    refused with a message, where sev-snp-measure may print a digest.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 the inputs cannot be measured (message starts with \"Error:\");\n"
    "    2 invalid command line (message starts with \"cocoon-measure: error:\").\n"
    "\n"
    "EXAMPLES\n"
    "    cocoon-measure --mode snp --vcpus 2 --vcpu-type EPYC-Milan --ovmf OVMF.amdsev.fd \\\n"
    "        --kernel vmlinuz --initrd initrd.img --append 'console=ttyS0' --guest-features 0x21\n"
    "    cocoon-measure --mode snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf /usr/share/ovmf/OVMF.fd\n"
    "    cocoon-measure tdx --firmware /usr/share/ovmf/OVMF.fd --format json\n"
    "\n"
    "SEE ALSO\n"
    "    sev-snp-measure(1) (virtee), README.md \"cocoon-measure (for policy authors)\",\n"
    "    tee/launch_plan.h in the cocoon sources for the launch layout.\n";

void measure_print_help(FILE *out)
{
    fputs(HELP_HEAD, out);
    const char *name;
    size_t col = 24;
    for (size_t i = 0; (name = vcpu_type_name(i)) != NULL; i++) {
        size_t len = strlen(name) + 1; /* name plus its ',' or '.' */
        if (i > 0) {
            if (col + 1 + len > 92) {
                fputs("\n                        ", out);
                col = 24;
            } else {
                fputc(' ', out);
                col++;
            }
        }
        fputs(name, out);
        if (vcpu_type_name(i + 1))
            fputc(',', out);
        col += len;
    }
    fputs(".\n", out);
    fputs(HELP_TAIL, out);
}
