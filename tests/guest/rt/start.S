/* start.S: test-guest entry: PVH 32-bit entry -> long mode, exceptions, ring-3 calls, AP bring-up. */

#define KCODE64 0x08
#define KDATA   0x10
#define UDATA   0x18
#define UCODE64 0x20
#define TSS_SEL 0x28
#define KCODE32 0x38

#define RT_AP_STACK_SIZE 8192
#define RT_MAX_CPUS      16

/* PVH entry note: Xen ELF note type 18 (XEN_ELFNOTE_PHYS32_ENTRY), a 32-bit entry address. */
        .section .note.Xen, "a", @note
        .align 4
        .long 4
        .long 4
        .long 18
        .asciz "Xen"
        .long pvh_start

        .section .text.boot, "ax"
        .code32
        .globl pvh_start
pvh_start:
        cli
        movl %ebx, rt_start_info        /* hvm_start_info GPA from the VMM */
        lgdt gdt_desc32
        ljmp $KCODE32, $1f
1:      movw $KDATA, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl $bsp_stack_top, %esp
        call enter_long_mode
        ljmp $KCODE64, $bsp_long

/* PAE + identity page tables + EFER.LME + paging. */
enter_long_mode:
        movl %cr4, %eax
        orl $0x20, %eax
        movl %eax, %cr4
        movl $pml4, %eax
        movl %eax, %cr3
        movl $0xC0000080, %ecx
        rdmsr
        orl $0x100, %eax
        wrmsr
        movl %cr0, %eax
        orl $0x80000001, %eax
        movl %eax, %cr0
        ret

/* APs arrive here from the real-mode trampoline in 32-bit protected mode. */
ap_pm32:
        movw $KDATA, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl $ap_boot_stack_top, %esp   /* shared, used only for the call below */
        call enter_long_mode
        ljmp $KCODE64, $ap_long

        .code64
bsp_long:
        movw $KDATA, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        xorl %eax, %eax
        movw %ax, %fs
        movw %ax, %gs
        movq $bsp_stack_top, %rsp
        call rt_main                    /* never returns */
1:      hlt
        jmp 1b

ap_long:
        movw $KDATA, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl $1, %eax
        lock xaddl %eax, rt_ap_next(%rip)   /* eax = this AP's slot */
        movl %eax, %edi
        incl %eax
        shlq $13, %rax                      /* (slot + 1) * RT_AP_STACK_SIZE */
        leaq ap_stacks(%rip), %rsp
        addq %rax, %rsp
        call rt_ap_main                     /* never returns */
1:      hlt
        jmp 1b

/* Real-mode AP trampoline; rt copies [ap_tramp_start, ap_tramp_end) to RT_AP_TRAMPOLINE. */
        .section .text.ap, "ax"
        .code16
        .globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
        cli
        movw %cs, %ax
        movw %ax, %ds
        lgdtl ap_gdt_desc - ap_tramp_start
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        ljmpl $KCODE32, $ap_pm32
        .align 8
ap_gdt_desc:
        .word gdt_end - gdt - 1
        .long gdt
ap_tramp_end:

        .code64
        .text
/* uint64_t rt_run_user_on(uint64_t (*fn)(uint64_t), uint64_t arg, void *stack_top):
 * runs fn(arg) at CPL 3 with IOPL 3 and interrupts off. fn's result comes back through a
 * deliberate #UD at rt_user_exit_point (this host turns `int $0x80` at CPL 3 into #UD, so a
 * software-interrupt gate cannot be used); rt_exception recognises it and calls rt_user_return. */
        .globl rt_run_user_on
rt_run_user_on:
        pushq %rbp
        pushq %rbx
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        movq %rsp, user_saved_rsp(%rip)
        movq %rsp, rt_tss+4(%rip)           /* TSS.rsp0 */
        pushq $(UDATA | 3)                  /* ss */
        pushq %rdx                          /* rsp */
        pushq $0x3002                       /* rflags: IOPL 3, IF 0 */
        pushq $(UCODE64 | 3)                /* cs */
        leaq user_trampoline(%rip), %rax
        pushq %rax                          /* rip */
        movq %rdi, %rax
        movq %rsi, %rdi
        iretq

user_trampoline:                            /* CPL 3 */
        andq $-16, %rsp
        call *%rax
        movq %rax, user_result(%rip)
        .globl rt_user_exit_point
rt_user_exit_point:
        ud2

        .globl rt_user_return
rt_user_return:                             /* CPL 0, from rt_exception */
        movq user_saved_rsp(%rip), %rsp
        movq user_result(%rip), %rax
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %rbx
        popq %rbp
        ret

/* Exception stubs: push a dummy error code where the CPU does not, then the vector. */
        .macro ISR vec
isr\vec:
        .if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
        .else
        pushq $0
        .endif
        pushq $\vec
        jmp isr_common
        .endm
        .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        ISR \v
        .endr
isr_common:
        movq %rsp, %rdi
        andq $-16, %rsp
        call rt_exception                   /* never returns */
1:      hlt
        jmp 1b

        .section .rodata
        .align 8
        .globl rt_isr_table
rt_isr_table:
        .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad isr\v
        .endr

        .data
        .align 16
        .globl gdt
gdt:
        .quad 0
        .quad 0x00AF9A000000FFFF            /* 0x08 kernel code 64 */
        .quad 0x00CF92000000FFFF            /* 0x10 kernel data */
        .quad 0x00CFF2000000FFFF            /* 0x18 user data (DPL 3) */
        .quad 0x00AFFA000000FFFF            /* 0x20 user code 64 (DPL 3) */
        .globl rt_gdt_tss
rt_gdt_tss:
        .quad 0, 0                          /* 0x28 TSS, filled by rt_main */
        .quad 0x00CF9A000000FFFF            /* 0x38 kernel code 32 */
gdt_end:
gdt_desc32:
        .word gdt_end - gdt - 1
        .long gdt

/* Identity map of the low 4 GiB with 2 MiB pages, user-accessible (so ring 3 can do bulk work). */
        .align 4096
pml4:
        .quad pdpt + 0x7
        .fill 511, 8, 0
pdpt:
        .quad pd + 0x7
        .quad pd + 0x1000 + 0x7
        .quad pd + 0x2000 + 0x7
        .quad pd + 0x3000 + 0x7
        .fill 508, 8, 0
pd:
        .set addr, 0
        .rept 2048
        .quad addr + 0x87                   /* present, writable, user, 2 MiB page */
        .set addr, addr + 0x200000
        .endr

        .globl rt_ap_next
rt_ap_next:
        .long 0

        .bss
        .align 16
        .globl rt_start_info
rt_start_info:
        .quad 0
user_saved_rsp:
        .quad 0
user_result:
        .quad 0
        .align 4096
bsp_stack:
        .skip 16384
bsp_stack_top:
ap_boot_stack:
        .skip 256
ap_boot_stack_top:
        .align 16
ap_stacks:
        .skip RT_AP_STACK_SIZE * (RT_MAX_CPUS + 1)
