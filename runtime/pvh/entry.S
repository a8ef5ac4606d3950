/*
 * Where Xen starts the kernel. PVH enters at the address in the
 * XEN_ELFNOTE_PHYS32_ENTRY note in 32-bit protected mode, paging off, with
 * %ebx pointing at struct hvm_start_info. We switch to 64-bit long mode with
 * our own page tables, enable SSE (gcc emits it everywhere), take a stack and
 * call pvh_main(start_info). Also here: the interrupt entry stubs, which must
 * be assembly because they end in iretq.
 */
#include <xen/elfnote.h>
#include "pvh.h"

#define PAGE_PRESENT_RW 0x003
#define PAGE_LARGE 0x080
#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR0_TS (1 << 3)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define CODE64 0x08
#define DATA 0x10
#define STACK_SIZE (512 * 1024)

	.section .note.Xen, "a"
	.balign 4
	.long 4, 4, XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long pvh_start32

	.section .text.entry, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cld
	mov %ebx, %esi
	lgdt gdt_pointer
	mov %cr4, %eax
	or $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	and $~(CR0_EM | CR0_TS), %eax
	or $(CR0_PG | CR0_MP | CR0_PE), %eax
	mov %eax, %cr0
	ljmp $CODE64, $start64

	.code64
start64:
	mov $DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	lea stack_top(%rip), %rsp
	mov %esi, %edi
	call pvh_main
1:	hlt
	jmp 1b

/*
 * Interrupt stubs. Exceptions (vectors 0-31) go to exception() in events.c
 * with the vector and the error code (0 where the CPU pushes none); the
 * report ends the domain, so nothing is restored. Vector n's stub is at
 * exception_stubs + 16 * n.
 */
#define HAS_ERROR_CODE(n) ((n) == 8 || ((n) >= 10 && (n) <= 14) || (n) == 17 || (n) == 21 || (n) == 29 || (n) == 30)
	.balign 16
	.globl exception_stubs
exception_stubs:
	.set vector, 0
	.rept 32
	.balign 16
	.if HAS_ERROR_CODE(vector) == 0
	push $0
	.endif
	push $vector
	jmp exception_common
	.set vector, vector + 1
	.endr

exception_common:
	mov (%rsp), %rdi           /* vector */
	mov 8(%rsp), %rsi          /* error code */
	lea 16(%rsp), %rdx         /* the CPU's frame: rip, cs, rflags, rsp, ss */
	and $~15, %rsp
	call exception
1:	hlt
	jmp 1b

/*
 * The event channel upcall: Xen raises it through the local APIC when an
 * event arrives (HVMOP_set_evtchn_upcall_vector). Acknowledge and return:
 * the module finds its events in shared_info when SCHEDOP_block returns.
 */
	.globl upcall_stub
upcall_stub:
	push %rax
	mov $APIC_EOI, %eax
	movl $0, (%rax)
	pop %rax
	iretq

	.globl spurious_stub
spurious_stub:
	iretq

	.section .data
	.balign 8
gdt:
	.quad 0
	.quad 0x00af9a000000ffff   /* CODE64: 64-bit code, ring 0 */
	.quad 0x00cf92000000ffff   /* DATA: flat data */
gdt_end:
gdt_pointer:
	.word gdt_end - gdt - 1
	.long gdt

/*
 * Page tables: 0-4 GiB identity-mapped with 2 MiB pages (the kernel, the
 * start info, Xen's special pages and the local APIC), and the first GiB
 * again at MEMORY_BASE (4 GiB), where the Wasm module's linear memory is
 * seen by C: linear memory lies at guest-physical 0, so gfn = offset >> 12.
 */
	.balign 4096
pml4:
	.quad pdpt + PAGE_PRESENT_RW
	.fill 511, 8, 0
pdpt:
	.quad pd + PAGE_PRESENT_RW
	.quad pd + 0x1000 + PAGE_PRESENT_RW
	.quad pd + 0x2000 + PAGE_PRESENT_RW
	.quad pd + 0x3000 + PAGE_PRESENT_RW
	.quad pd + PAGE_PRESENT_RW  /* MEMORY_BASE */
	.fill 507, 8, 0
pd:
	.set page, 0
	.rept 2048
	.quad (page << 21) + PAGE_PRESENT_RW + PAGE_LARGE
	.set page, page + 1
	.endr

	.section .bss
	.balign 16
	.globl stack_bottom
stack_bottom:
	.skip STACK_SIZE
stack_top:

	.section .note.GNU-stack, "", @progbits
