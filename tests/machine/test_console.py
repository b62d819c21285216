# SPDX-License-Identifier: MIT
# ruff: noqa: E501, W291 - the fixtures are real console output: long lines, trailing blanks
"""The console recorder: ring buffer, log file, and crash detection on real reports.

Every fixture below was captured from the serial console (ttyS0) of the lab VM bundle's
Debian kernel 6.1.0-56-amd64 (6.1.192-2) under QEMU 7.2 TCG, one small module per case,
loaded with insmod through the guest agent; only the build folder was renamed to
``/tmp/km/builds/lesson``. Each starts at the recorder's mark taken just before insmod.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kernelmagic.machine.console import CRASH_KINDS, ConsoleRecorder, CrashReport

# an oops in a module's init: insmod writes through NULL (crash.c)
OOPS = r"""[    2.913175] crash: loading out-of-tree module taints kernel.
[    2.918525] crash: module verification failed: signature and/or required key missing - tainting kernel
[    2.919572] crash: about to write through NULL
[    2.920158] BUG: kernel NULL pointer dereference, address: 0000000000000000
[    2.920367] #PF: supervisor write access in kernel mode
[    2.920479] #PF: error_code(0x0002) - not-present page
[    2.920605] PGD 0 P4D 0 
[    2.920749] Oops: 0002 [#1] PREEMPT SMP NOPTI
[    2.920916] CPU: 0 PID: 135 Comm: insmod Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[    2.921139] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[    2.921372] RIP: 0010:crash_init+0x13/0x1000 [crash]
[    2.921750] Code: Unable to access opcode bytes at 0xffffffffc0226fe9.
[    2.921888] RSP: 0018:ffffc900005cfb20 EFLAGS: 00000246
[    2.921994] RAX: 0000000000000000 RBX: ffffffffc0227000 RCX: c0000000ffffefff
[    2.922199] RDX: 0000000000000000 RSI: 00000000ffffefff RDI: 0000000000000001
[    2.922334] RBP: ffff88800f8c7720 R08: 0000000000000000 R09: ffffc900005cf9b8
[    2.922464] R10: 0000000000000003 R11: ffffffff82ad4448 R12: ffffc900005cfb28
[    2.922594] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[    2.922762] FS:  00007f9750fde040(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[    2.922917] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[    2.923049] CR2: ffffffffc0226fe9 CR3: 0000000006124000 CR4: 00000000000006f0
[    2.923327] Call Trace:
[    2.923747]  <TASK>
[    2.923859]  do_one_initcall+0x59/0x220
[    2.924073]  do_init_module+0x4a/0x1f0
[    2.924164]  __do_sys_finit_module+0xac/0x120
[    2.924256]  do_syscall_64+0x5d/0xb0
[    2.924356]  ? vm_mmap_pgoff+0x103/0x180
[    2.924447]  ? ksys_mmap_pgoff+0xe8/0x1f0
[    2.924535]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.924627]  ? syscall_exit_to_user_mode+0x1e/0x40
[    2.924715]  ? do_syscall_64+0x69/0xb0
[    2.924795]  ? update_load_avg+0x7e/0x780
[    2.924872]  ? update_load_avg+0x7e/0x780
[    2.924947]  ? set_next_entity+0xda/0x150
[    2.925026]  ? native_load_gs_index+0x15/0x30
[    2.925109]  ? __rseq_handle_notify_resume+0xa9/0x480
[    2.925203]  ? finish_task_switch.isra.0+0x90/0x2d0
[    2.925299]  ? exit_to_user_mode_prepare+0x172/0x240
[    2.925400]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[    2.925555] RIP: 0033:0x7f97510e0829
[    2.925738] Code: 08 89 e8 5b 5d c3 66 2e 0f 1f 84 00 00 00 00 00 90 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d 89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d a7 15 0d 00 f7 d8 64 89 01 48
[    2.926091] RSP: 002b:00007ffec3d438b8 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
[    2.926248] RAX: ffffffffffffffda RBX: 0000555c81b20760 RCX: 00007f97510e0829
[    2.926397] RDX: 0000000000000000 RSI: 0000555c45d4e4a0 RDI: 0000000000000003
[    2.926523] RBP: 0000555c45d4e4a0 R08: 0000000000000000 R09: 00007f97511ba2a0
[    2.926650] R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
[    2.926777] R13: 0000000000000000 R14: 0000555c81b20400 R15: 0000000000000000
[    2.926920]  </TASK>
[    2.927023] Modules linked in: crash(OE+) 9p fscache netfs 9pnet_virtio 9pnet virtio_console virtio_pci virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev
[    2.927488] CR2: 0000000000000000
[    2.927956] ---[ end trace 0000000000000000 ]---
[    2.928122] RIP: 0010:crash_init+0x13/0x1000 [crash]
[    2.928235] Code: Unable to access opcode bytes at 0xffffffffc0226fe9.
[    2.928396] RSP: 0018:ffffc900005cfb20 EFLAGS: 00000246
[    2.928491] RAX: 0000000000000000 RBX: ffffffffc0227000 RCX: c0000000ffffefff
[    2.928617] RDX: 0000000000000000 RSI: 00000000ffffefff RDI: 0000000000000001
[    2.928739] RBP: ffff88800f8c7720 R08: 0000000000000000 R09: ffffc900005cf9b8
[    2.928858] R10: 0000000000000003 R11: ffffffff82ad4448 R12: ffffc900005cfb28
[    2.928978] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[    2.929108] FS:  00007f9750fde040(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[    2.929305] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[    2.929445] CR2: ffffffffc0226fe9 CR3: 0000000006124000 CR4: 00000000000006f0
"""

# an oops in a timer callback (softirq), which the kernel cannot survive
OOPS_IN_IRQ_THEN_PANIC = r"""[    2.612454] boom: loading out-of-tree module taints kernel.
[    2.612829] boom: module verification failed: signature and/or required key missing - tainting kernel
[    2.620384] BUG: kernel NULL pointer dereference, address: 0000000000000008
[    2.620623] #PF: supervisor write access in kernel mode
[    2.620723] #PF: error_code(0x0002) - not-present page
[    2.620837] PGD 0 P4D 0 
[    2.620974] Oops: 0002 [#1] PREEMPT SMP NOPTI
[    2.621135] CPU: 0 PID: 9 Comm: kworker/u2:0 Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[    2.621438] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[    2.621674] Workqueue:  0x0 (events_unbound)
[    2.621973] RIP: 0010:tick_fn+0x5/0x1000 [boom]
[    2.622270] Code: Unable to access opcode bytes at 0xffffffffc021efdb.
[    2.622398] RSP: 0018:ffffc90000003ea8 EFLAGS: 00000202
[    2.622517] RAX: 0000000000000000 RBX: 0000000000000101 RCX: ffff88800e620b00
[    2.622641] RDX: 00000000fffedd76 RSI: ffffffffc021f000 RDI: ffffffffc0221380
[    2.622763] RBP: ffffffffc0221380 R08: 0000000000000037 R09: ffff88800e620b28
[    2.622886] R10: 0000000000000007 R11: 0000000000012267 R12: ffffffffc021f000
[    2.623010] R13: ffffffffc0221380 R14: ffffc90000003ef8 R15: ffff88800e620b00
[    2.623162] FS:  0000000000000000(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[    2.623298] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[    2.623391] CR2: ffffffffc021efdb CR3: 0000000006124000 CR4: 00000000000006f0
[    2.623620] Call Trace:
[    2.624085]  <IRQ>
[    2.624190]  call_timer_fn+0x27/0x130
[    2.624384]  ? 0xffffffffc021f000
[    2.624463]  __run_timers+0x222/0x2c0
[    2.624534]  run_timer_softirq+0x19/0x30
[    2.624619]  handle_softirqs+0xd7/0x280
[    2.624708]  __irq_exit_rcu+0xac/0xe0
[    2.624779]  sysvec_apic_timer_interrupt+0x6e/0x90
[    2.624923]  </IRQ>
[    2.624971]  <TASK>
[    2.625007]  asm_sysvec_apic_timer_interrupt+0x16/0x20
[    2.625163] RIP: 0010:finish_task_switch.isra.0+0x96/0x2d0
[    2.625270] Code: 45 34 00 00 00 00 0f 1f 44 00 00 49 8b 9c 24 20 0a 00 00 48 85 db 0f 85 aa 00 00 00 4c 89 e7 e8 a0 d0 97 00 fb 0f 1f 44 00 00 <65> 48 8b 04 25 80 fb 01 00 66 90 4d 85 f6 74 21 65 48 8b 04 25 80
[    2.625580] RSP: 0018:ffffc90000053e38 EFLAGS: 00000282
[    2.625666] RAX: ffff88800627c8c0 RBX: 0000000000000000 RCX: 0000000000000002
[    2.625774] RDX: 0000000000000000 RSI: 00007f7bbabb3040 RDI: ffff88800e631c40
[    2.625882] RBP: ffffc90000053e60 R08: 0000000000000014 R09: 0000000000000004
[    2.625990] R10: 0000000000000002 R11: 0000000000000001 R12: ffff88800e631c40
[    2.626098] R13: ffff88800627c8c0 R14: 0000000000000000 R15: 0000000000000000
[    2.626231]  ? finish_task_switch.isra.0+0x90/0x2d0
[    2.626323]  __schedule+0x355/0xa00
[    2.626387]  schedule+0x5a/0xd0
[    2.626443]  worker_thread+0xaf/0x380
[    2.626523]  ? rescuer_thread+0x3a0/0x3a0
[    2.626608]  kthread+0xda/0x100
[    2.626673]  ? kthread_complete_and_exit+0x20/0x20
[    2.626754]  ret_from_fork+0x22/0x30
[    2.626846]  </TASK>
[    2.626920] Modules linked in: boom(OE) 9p fscache netfs 9pnet_virtio 9pnet virtio_console virtio_pci virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev
[    2.627344] CR2: 0000000000000008
[    2.627563] ---[ end trace 0000000000000000 ]---
[    2.627684] RIP: 0010:tick_fn+0x5/0x1000 [boom]
[    2.627784] Code: Unable to access opcode bytes at 0xffffffffc021efdb.
[    2.627888] RSP: 0018:ffffc90000003ea8 EFLAGS: 00000202
[    2.627974] RAX: 0000000000000000 RBX: 0000000000000101 RCX: ffff88800e620b00
[    2.628082] RDX: 00000000fffedd76 RSI: ffffffffc021f000 RDI: ffffffffc0221380
[    2.628190] RBP: ffffffffc0221380 R08: 0000000000000037 R09: ffff88800e620b28
[    2.628340] R10: 0000000000000007 R11: 0000000000012267 R12: ffffffffc021f000
[    2.628449] R13: ffffffffc0221380 R14: ffffc90000003ef8 R15: ffff88800e620b00
[    2.628570] FS:  0000000000000000(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[    2.628695] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[    2.628793] CR2: ffffffffc021efdb CR3: 0000000006124000 CR4: 00000000000006f0
[    2.628973] Kernel panic - not syncing: Fatal exception in interrupt
[    2.629341] Kernel Offset: disabled
"""

# a module calling panic("boom from a module"); QEMU ran with panic=-1 -no-reboot
PANIC = r"""[    2.888762] panic: loading out-of-tree module taints kernel.
[    2.889266] panic: module verification failed: signature and/or required key missing - tainting kernel
[    2.890296] Kernel panic - not syncing: boom from a module
[    2.890544] CPU: 0 PID: 135 Comm: insmod Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[    2.890753] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[    2.890985] Call Trace:
[    2.891452]  <TASK>
[    2.891608]  dump_stack_lvl+0x44/0x5c
[    2.891848]  panic+0x118/0x2f4
[    2.891924]  ? 0xffffffffc022a000
[    2.892058]  ? 0xffffffffc022a000
[    2.892125]  pan_init+0x11/0x1000 [panic]
[    2.892326]  do_one_initcall+0x59/0x220
[    2.892410]  do_init_module+0x4a/0x1f0
[    2.892486]  __do_sys_finit_module+0xac/0x120
[    2.892567]  do_syscall_64+0x5d/0xb0
[    2.892628]  ? ksys_mmap_pgoff+0xe8/0x1f0
[    2.892696]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.892778]  ? syscall_exit_to_user_mode+0x1e/0x40
[    2.892859]  ? do_syscall_64+0x69/0xb0
[    2.892931]  ? __rseq_handle_notify_resume+0xa9/0x480
[    2.893029]  ? exit_to_user_mode_prepare+0x172/0x240
[    2.893110]  ? syscall_exit_to_user_mode+0x1e/0x40
[    2.893195]  ? do_syscall_64+0x69/0xb0
[    2.893257]  ? do_user_addr_fault+0x1b0/0x570
[    2.893332]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.893412]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[    2.893575] RIP: 0033:0x7ff32a788829
[    2.893740] Code: 08 89 e8 5b 5d c3 66 2e 0f 1f 84 00 00 00 00 00 90 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d 89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d a7 15 0d 00 f7 d8 64 89 01 48
[    2.894058] RSP: 002b:00007fffab81e9c8 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
[    2.894207] RAX: ffffffffffffffda RBX: 000055892d348760 RCX: 00007ff32a788829
[    2.894319] RDX: 0000000000000000 RSI: 00005588eff5c4a0 RDI: 0000000000000003
[    2.894430] RBP: 00005588eff5c4a0 R08: 0000000000000000 R09: 00007ff32a8622a0
[    2.894540] R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
[    2.894659] R13: 0000000000000000 R14: 000055892d348400 R15: 0000000000000000
[    2.894792]  </TASK>
[    2.895139] Kernel Offset: disabled
"""

# a busy loop in a module's init on one CPU: RCU stall at 23 s, soft lockup at 48 s
RCU_STALL_THEN_SOFT_LOCKUP = r"""[    2.908489] spin: loading out-of-tree module taints kernel.
[    2.908916] spin: module verification failed: signature and/or required key missing - tainting kernel
[   23.916145] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
[   23.916542] 	(detected by 0, t=5252 jiffies, g=-39, q=10 ncpus=1)
[   23.916687] rcu: All QSes seen, last rcu_preempt kthread activity 5252 (4294898235-4294892983), jiffies_till_next_fqs=1, root ->qsmask 0x0
[   23.916945] rcu: rcu_preempt kthread starved for 5252 jiffies! g-39 f0x2 RCU_GP_WAIT_FQS(5) ->state=0x0 ->cpu=0
[   23.917112] rcu: 	Unless rcu_preempt kthread gets sufficient CPU time, OOM is now expected behavior.
[   23.917254] rcu: RCU grace-period kthread stack dump:
[   23.917373] task:rcu_preempt     state:R  running task     stack:0     pid:15    ppid:2      flags:0x00004000
[   23.917708] Call Trace:
[   23.917923]  <TASK>
[   23.918053]  __schedule+0x34d/0xa00
[   23.918473]  ? rcu_gp_cleanup+0x460/0x460
[   23.918555]  schedule+0x5a/0xd0
[   23.918617]  schedule_timeout+0x94/0x150
[   23.918689]  ? __bpf_trace_tick_stop+0x10/0x10
[   23.918763]  rcu_gp_fqs_loop+0x141/0x560
[   23.918828]  rcu_gp_kthread+0xd8/0x1b0
[   23.918890]  kthread+0xda/0x100
[   23.918954]  ? kthread_complete_and_exit+0x20/0x20
[   23.919031]  ret_from_fork+0x22/0x30
[   23.919117]  </TASK>
[   23.919199] rcu: Stack dump where RCU GP kthread last ran:
[   23.919414] CPU: 0 PID: 135 Comm: insmod Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[   23.919610] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   23.919777] RIP: 0010:spin_init+0xe/0x1000 [spin]
[   23.920136] Code: Unable to access opcode bytes at 0xffffffffc0229fe4.
[   23.920254] RSP: 0018:ffffc900005bba28 EFLAGS: 00000202
[   23.920353] RAX: 0000000000000001 RBX: ffffffffc022a000 RCX: 0000000000000000
[   23.920460] RDX: 0000000000000000 RSI: ffffffffc022a000 RDI: ffffc900005bba18
[   23.920566] RBP: ffff88800f84a550 R08: 0000000000000010 R09: ffff88800f84a550
[   23.920673] R10: ffff8880058d8b90 R11: 00000000cad23a66 R12: ffffc900005bba38
[   23.920779] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[   23.920917] FS:  00007fae54ba2040(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[   23.921046] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[   23.921135] CR2: ffffffffc0229fe4 CR3: 0000000006120000 CR4: 00000000000006f0
[   23.921315] Call Trace:
[   23.921424]  <TASK>
[   23.921470]  do_one_initcall+0x59/0x220
[   23.921544]  do_init_module+0x4a/0x1f0
[   23.921614]  __do_sys_finit_module+0xac/0x120
[   23.921691]  do_syscall_64+0x5d/0xb0
[   23.921766]  ? vm_mmap_pgoff+0x103/0x180
[   23.921841]  ? ksys_mmap_pgoff+0xe8/0x1f0
[   23.921907]  ? exit_to_user_mode_prepare+0x44/0x240
[   23.921982]  ? syscall_exit_to_user_mode+0x1e/0x40
[   23.922057]  ? do_syscall_64+0x69/0xb0
[   23.922118]  ? __rseq_handle_notify_resume+0xa9/0x480
[   23.922195]  ? __do_sys_newfstatat+0x4e/0x80
[   23.922268]  ? exit_to_user_mode_prepare+0x172/0x240
[   23.922346]  ? syscall_exit_to_user_mode+0x1e/0x40
[   23.922421]  ? do_syscall_64+0x69/0xb0
[   23.922482]  ? handle_mm_fault+0xdb/0x2d0
[   23.922547]  ? do_user_addr_fault+0x1b0/0x570
[   23.922618]  ? exit_to_user_mode_prepare+0x44/0x240
[   23.922694]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[   23.922837] RIP: 0033:0x7fae54ca4829
[   23.923002] Code: 08 89 e8 5b 5d c3 66 2e 0f 1f 84 00 00 00 00 00 90 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d 89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d a7 15 0d 00 f7 d8 64 89 01 48
[   23.923296] RSP: 002b:00007ffcbc1b8288 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
[   23.923441] RAX: ffffffffffffffda RBX: 0000560547db2760 RCX: 00007fae54ca4829
[   23.923552] RDX: 0000000000000000 RSI: 000056050f07e4a0 RDI: 0000000000000003
[   23.923654] RBP: 000056050f07e4a0 R08: 0000000000000000 R09: 00007fae54d7e2a0
[   23.923754] R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
[   23.923856] R13: 0000000000000000 R14: 0000560547db2400 R15: 0000000000000000
[   23.923972]  </TASK>
[   48.527137] watchdog: BUG: soft lockup - CPU#0 stuck for 45s! [insmod:135]
[   48.527448] Modules linked in: spin(OE+) 9p fscache netfs 9pnet_virtio 9pnet virtio_console virtio_pci virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev
[   48.527937] CPU: 0 PID: 135 Comm: insmod Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[   48.528109] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   48.528277] RIP: 0010:spin_init+0xe/0x1000 [spin]
[   48.528422] Code: Unable to access opcode bytes at 0xffffffffc0229fe4.
[   48.528544] RSP: 0018:ffffc900005bba28 EFLAGS: 00000202
[   48.528638] RAX: 0000000000000001 RBX: ffffffffc022a000 RCX: 0000000000000000
[   48.528752] RDX: 0000000000000000 RSI: ffffffffc022a000 RDI: ffffc900005bba18
[   48.528881] RBP: ffff88800f84a550 R08: 0000000000000010 R09: ffff88800f84a550
[   48.529005] R10: ffff8880058d8b90 R11: 00000000cad23a66 R12: ffffc900005bba38
[   48.529142] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[   48.529268] FS:  00007fae54ba2040(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[   48.529414] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[   48.529511] CR2: ffffffffc0229fe4 CR3: 0000000006120000 CR4: 00000000000006f0
[   48.529637] Call Trace:
[   48.529698]  <TASK>
[   48.529755]  do_one_initcall+0x59/0x220
[   48.529848]  do_init_module+0x4a/0x1f0
[   48.529921]  __do_sys_finit_module+0xac/0x120
[   48.530006]  do_syscall_64+0x5d/0xb0
[   48.530083]  ? vm_mmap_pgoff+0x103/0x180
[   48.530161]  ? ksys_mmap_pgoff+0xe8/0x1f0
[   48.530234]  ? exit_to_user_mode_prepare+0x44/0x240
[   48.530325]  ? syscall_exit_to_user_mode+0x1e/0x40
[   48.530410]  ? do_syscall_64+0x69/0xb0
[   48.530482]  ? __rseq_handle_notify_resume+0xa9/0x480
[   48.530574]  ? __do_sys_newfstatat+0x4e/0x80
[   48.530659]  ? exit_to_user_mode_prepare+0x172/0x240
[   48.530750]  ? syscall_exit_to_user_mode+0x1e/0x40
[   48.530834]  ? do_syscall_64+0x69/0xb0
[   48.530905]  ? handle_mm_fault+0xdb/0x2d0
[   48.530982]  ? do_user_addr_fault+0x1b0/0x570
[   48.531062]  ? exit_to_user_mode_prepare+0x44/0x240
[   48.531153]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[   48.531252] RIP: 0033:0x7fae54ca4829
[   48.531324] Code: 08 89 e8 5b 5d c3 66 2e 0f 1f 84 00 00 00 00 00 90 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d 89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d a7 15 0d 00 f7 d8 64 89 01 48
[   48.531672] RSP: 002b:00007ffcbc1b8288 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
[   48.531797] RAX: ffffffffffffffda RBX: 0000560547db2760 RCX: 00007fae54ca4829
[   48.531915] RDX: 0000000000000000 RSI: 000056050f07e4a0 RDI: 0000000000000003
[   48.532040] RBP: 000056050f07e4a0 R08: 0000000000000000 R09: 00007fae54d7e2a0
[   48.532158] R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
[   48.532281] R13: 0000000000000000 R14: 0000560547db2400 R15: 0000000000000000
[   48.532411]  </TASK>
"""

# msleep(12000) in init with kernel.hung_task_timeout_secs=3 (the first of three reports)
HUNG_TASK = r"""[    2.923806] hang: loading out-of-tree module taints kernel.
[    2.924165] hang: module verification failed: signature and/or required key missing - tainting kernel
[    6.780422] INFO: task insmod:137 blocked for more than 3 seconds.
[    6.780726]       Tainted: G           OE      6.1.0-56-amd64 #1 Debian 6.1.192-2
[    6.780927] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
[    6.781111] task:insmod          state:D stack:0     pid:137   ppid:92     flags:0x00004002
[    6.782263] Call Trace:
[    6.782611]  <TASK>
[    6.782740]  __schedule+0x34d/0xa00
[    6.783277]  schedule+0x5a/0xd0
[    6.783347]  schedule_timeout+0x94/0x150
[    6.783423]  ? __bpf_trace_tick_stop+0x10/0x10
[    6.783514]  msleep+0x29/0x40
[    6.783588]  ? 0xffffffffc022a000
[    6.784000]  hang_init+0xf/0x1000 [hang]
[    6.784271]  do_one_initcall+0x59/0x220
[    6.784356]  do_init_module+0x4a/0x1f0
[    6.784431]  __do_sys_finit_module+0xac/0x120
[    6.784513]  do_syscall_64+0x5d/0xb0
[    6.784583]  ? exit_to_user_mode_prepare+0x172/0x240
[    6.784666]  ? syscall_exit_to_user_mode+0x1e/0x40
[    6.784746]  ? do_syscall_64+0x69/0xb0
[    6.784810]  ? switch_fpu_return+0x4c/0xd0
[    6.784880]  ? exit_to_user_mode_prepare+0x172/0x240
[    6.784962]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[    6.785124] RIP: 0033:0x7fdd344ae829
[    6.785259] RSP: 002b:00007ffe2ae28e48 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
[    6.785404] RAX: ffffffffffffffda RBX: 00005601865c7760 RCX: 00007fdd344ae829
[    6.785518] RDX: 0000000000000000 RSI: 000056016ff224a0 RDI: 0000000000000003
[    6.785632] RBP: 000056016ff224a0 R08: 0000000000000000 R09: 00007fdd345882a0
[    6.785746] R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
[    6.785857] R13: 0000000000000000 R14: 00005601865c7400 R15: 0000000000000000
[    6.786078]  </TASK>
"""

# WARN_ON(1) in a module's init
WARNING = r"""[    2.851059] warn: loading out-of-tree module taints kernel.
[    2.851432] warn: module verification failed: signature and/or required key missing - tainting kernel
[    2.852728] ------------[ cut here ]------------
[    2.852862] WARNING: CPU: 0 PID: 135 at /tmp/km/builds/lesson/warn.c:5 warn_init+0x5/0x1000 [warn]
[    2.858100] Modules linked in: warn(OE+) 9p fscache netfs 9pnet_virtio 9pnet virtio_console virtio_pci virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev
[    2.858580] CPU: 0 PID: 135 Comm: insmod Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[    2.858793] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[    2.859258] RIP: 0010:warn_init+0x5/0x1000 [warn]
[    2.859690] Code: Unable to access opcode bytes at 0xffffffffc0229fdb.
[    2.859865] RSP: 0018:ffffc900005d7a18 EFLAGS: 00000246
[    2.860020] RAX: 0000000000000000 RBX: ffffffffc022a000 RCX: 0000000000000000
[    2.860143] RDX: 0000000000000000 RSI: ffffffffc022a000 RDI: ffffc900005d7a00
[    2.860313] RBP: ffff88800f8d4140 R08: 0000000000000010 R09: ffff88800f8d4140
[    2.860465] R10: ffff8880058d8028 R11: 0000000005a84661 R12: ffffc900005d7a20
[    2.860668] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[    2.860826] FS:  00007fe325e4b040(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[    2.860965] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[    2.861066] CR2: ffffffffc0229fdb CR3: 0000000006124000 CR4: 00000000000006f0
[    2.861339] Call Trace:
[    2.861716]  <TASK>
[    2.861817]  do_one_initcall+0x59/0x220
[    2.862014]  do_init_module+0x4a/0x1f0
[    2.862093]  __do_sys_finit_module+0xac/0x120
[    2.862181]  do_syscall_64+0x5d/0xb0
[    2.862264]  ? syscall_exit_to_user_mode+0x1e/0x40
[    2.862379]  ? do_syscall_64+0x69/0xb0
[    2.862486]  ? __rseq_handle_notify_resume+0xa9/0x480
[    2.862579]  ? __do_sys_newfstatat+0x4e/0x80
[    2.862656]  ? exit_to_user_mode_prepare+0x172/0x240
[    2.862746]  ? syscall_exit_to_user_mode+0x1e/0x40
[    2.862834]  ? do_syscall_64+0x69/0xb0
[    2.862906]  ? exit_to_user_mode_prepare+0x172/0x240
[    2.862995]  ? syscall_exit_to_user_mode+0x1e/0x40
[    2.863078]  ? do_syscall_64+0x69/0xb0
[    2.863149]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.863237]  ? syscall_exit_to_user_mode+0x1e/0x40
[    2.863325]  ? do_syscall_64+0x69/0xb0
[    2.863395]  ? __handle_mm_fault+0x660/0xfa0
[    2.863480]  ? handle_mm_fault+0xdb/0x2d0
[    2.863555]  ? do_user_addr_fault+0x1b0/0x570
[    2.863638]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.863719]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[    2.863878] RIP: 0033:0x7fe325f4d829
[    2.864047] Code: 08 89 e8 5b 5d c3 66 2e 0f 1f 84 00 00 00 00 00 90 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d 89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d a7 15 0d 00 f7 d8 64 89 01 48
[    2.864450] RSP: 002b:00007fffcea3d458 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
[    2.864584] RAX: ffffffffffffffda RBX: 000055adf8cc1760 RCX: 00007fe325f4d829
[    2.864696] RDX: 0000000000000000 RSI: 000055adc2af94a0 RDI: 0000000000000003
[    2.864816] RBP: 000055adc2af94a0 R08: 0000000000000000 R09: 00007fe3260272a0
[    2.864926] R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
[    2.865036] R13: 0000000000000000 R14: 000055adf8cc1400 R15: 0000000000000000
[    2.865178]  </TASK>
[    2.865254] ---[ end trace 0000000000000000 ]---
"""

# msleep() under a spinlock: a BUG: report, then a WARNING from do_one_initcall
SCHEDULING_WHILE_ATOMIC = r"""[    2.694996] atomic: loading out-of-tree module taints kernel.
[    2.695368] atomic: module verification failed: signature and/or required key missing - tainting kernel
[    2.696470] BUG: scheduling while atomic: insmod/135/0x00000002
[    2.696631] Modules linked in: atomic(OE+) 9p fscache netfs 9pnet_virtio 9pnet virtio_console virtio_pci virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev
[    2.697128] CPU: 0 PID: 135 Comm: insmod Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[    2.701933] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[    2.702164] Call Trace:
[    2.702568]  <TASK>
[    2.702690]  dump_stack_lvl+0x44/0x5c
[    2.702919]  __schedule_bug.cold+0x42/0x4e
[    2.703007]  __schedule+0x804/0xa00
[    2.703079]  schedule+0x5a/0xd0
[    2.703141]  schedule_timeout+0x94/0x150
[    2.703221]  ? __bpf_trace_tick_stop+0x10/0x10
[    2.703309]  msleep+0x29/0x40
[    2.703373]  ? 0xffffffffc022a000
[    2.703520]  atomic_init+0x1b/0x1000 [atomic]
[    2.703651]  do_one_initcall+0x59/0x220
[    2.703737]  do_init_module+0x4a/0x1f0
[    2.703812]  __do_sys_finit_module+0xac/0x120
[    2.703900]  do_syscall_64+0x5d/0xb0
[    2.703968]  ? do_user_addr_fault+0x1b0/0x570
[    2.704051]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.704137]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[    2.704300] RIP: 0033:0x7f2a22ffa829
[    2.704457] Code: 08 89 e8 5b 5d c3 66 2e 0f 1f 84 00 00 00 00 00 90 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d 89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d a7 15 0d 00 f7 d8 64 89 01 48
[    2.704831] RSP: 002b:00007ffd440702c8 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
[    2.705016] RAX: ffffffffffffffda RBX: 000055814d4ff760 RCX: 00007f2a22ffa829
[    2.705138] RDX: 0000000000000000 RSI: 000055814840a4a0 RDI: 0000000000000003
[    2.705261] RBP: 000055814840a4a0 R08: 0000000000000000 R09: 00007f2a230d42a0
[    2.705382] R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
[    2.705494] R13: 0000000000000000 R14: 000055814d4ff400 R15: 0000000000000000
[    2.705635]  </TASK>
[    2.716176] ------------[ cut here ]------------
[    2.716301] initcall atomic_init+0x0/0x1000 [atomic] returned with preemption imbalance 
[    2.716602] WARNING: CPU: 0 PID: 135 at init/main.c:1284 do_one_initcall+0x1d7/0x220
[    2.716748] Modules linked in: atomic(OE+) 9p fscache netfs 9pnet_virtio 9pnet virtio_console virtio_pci virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev
[    2.717037] CPU: 0 PID: 135 Comm: insmod Tainted: G        W  OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[    2.717195] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[    2.717347] RIP: 0010:do_one_initcall+0x1d7/0x220
[    2.717443] Code: c6 03 e5 32 82 4c 89 e7 e8 86 a9 9e 00 fb 0f 1f 44 00 00 e9 c0 fe ff ff 4c 89 e2 48 89 de 48 c7 c7 08 e9 32 82 e8 09 f4 09 00 <0f> 0b e9 b1 fe ff ff bd ff ff ff ff e9 b0 fe ff ff e8 a3 60 a4 00
[    2.717727] RSP: 0018:ffffc900005d7d78 EFLAGS: 00000286
[    2.717814] RAX: 0000000000000000 RBX: ffffffffc022a000 RCX: c0000000ffffefff
[    2.717923] RDX: 0000000000000000 RSI: 00000000ffffefff RDI: 0000000000000001
[    2.718030] RBP: 0000000000000000 R08: 0000000000000000 R09: ffffc900005d7bf0
[    2.718138] R10: 0000000000000003 R11: ffffffff82ad4448 R12: ffffc900005d7d78
[    2.718246] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[    2.718385] FS:  00007f2a22ef8040(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[    2.718521] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[    2.718616] CR2: 0000558148403090 CR3: 0000000006122000 CR4: 00000000000006f0
[    2.718796] Call Trace:
[    2.718884]  <TASK>
[    2.718940]  do_init_module+0x4a/0x1f0
[    2.719017]  __do_sys_finit_module+0xac/0x120
[    2.719098]  do_syscall_64+0x5d/0xb0
[    2.719161]  ? do_user_addr_fault+0x1b0/0x570
[    2.719237]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.719318]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[    2.719403] RIP: 0033:0x7f2a22ffa829
[    2.719494] Code: 08 89 e8 5b 5d c3 66 2e 0f 1f 84 00 00 00 00 00 90 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d 89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d a7 15 0d 00 f7 d8 64 89 01 48
[    2.719768] RSP: 002b:00007ffd440702c8 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
[    2.719896] RAX: ffffffffffffffda RBX: 000055814d4ff760 RCX: 00007f2a22ffa829
[    2.720005] RDX: 0000000000000000 RSI: 000055814840a4a0 RDI: 0000000000000003
[    2.720111] RBP: 000055814840a4a0 R08: 0000000000000000 R09: 00007f2a230d42a0
[    2.720218] R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
[    2.720325] R13: 0000000000000000 R14: 000055814d4ff400 R15: 0000000000000000
[    2.720439]  </TASK>
[    2.720589] ---[ end trace 0000000000000000 ]---
"""

# BUG() in a module's init
KERNEL_BUG = r"""[    2.571144] bug: loading out-of-tree module taints kernel.
[    2.571493] bug: module verification failed: signature and/or required key missing - tainting kernel
[    2.572563] ------------[ cut here ]------------
[    2.572682] kernel BUG at /tmp/km/builds/lesson/bug.c:5!
[    2.573173] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
[    2.573356] CPU: 0 PID: 135 Comm: insmod Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[    2.573557] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[    2.573763] RIP: 0010:bug_init+0x5/0x1000 [bug]
[    2.574152] Code: Unable to access opcode bytes at 0xffffffffc0229fdb.
[    2.574277] RSP: 0018:ffffc900005bbc60 EFLAGS: 00000246
[    2.574389] RAX: 0000000000000000 RBX: ffffffffc022a000 RCX: 0000000000000000
[    2.574511] RDX: 0000000000000000 RSI: ffffffffc022a000 RDI: ffffc900005bbc48
[    2.574625] RBP: ffff88800f848090 R08: 0000000000000010 R09: ffff88800f848090
[    2.574742] R10: ffff8880058d96f8 R11: 000000003ed2b89b R12: ffffc900005bbc68
[    2.574856] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[    2.575035] FS:  00007f0e4989a040(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[    2.575172] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[    2.575275] CR2: ffffffffc0229fdb CR3: 0000000006124000 CR4: 00000000000006f0
[    2.575491] Call Trace:
[    2.575854]  <TASK>
[    2.575956]  do_one_initcall+0x59/0x220
[    2.576202]  do_init_module+0x4a/0x1f0
[    2.576281]  __do_sys_finit_module+0xac/0x120
[    2.576370]  do_syscall_64+0x5d/0xb0
[    2.576455]  ? __rseq_handle_notify_resume+0xa9/0x480
[    2.576551]  ? __do_sys_newfstatat+0x4e/0x80
[    2.576635]  ? exit_to_user_mode_prepare+0x172/0x240
[    2.576725]  ? syscall_exit_to_user_mode+0x1e/0x40
[    2.576812]  ? do_syscall_64+0x69/0xb0
[    2.576883]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.576971]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[    2.577122] RIP: 0033:0x7f0e4999c829
[    2.577295] Code: 08 89 e8 5b 5d c3 66 2e 0f 1f 84 00 00 00 00 00 90 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d 89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d a7 15 0d 00 f7 d8 64 89 01 48
[    2.577607] RSP: 002b:00007ffcf761a388 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
[    2.577745] RAX: ffffffffffffffda RBX: 0000560f5fc50760 RCX: 00007f0e4999c829
[    2.577862] RDX: 0000000000000000 RSI: 0000560f307024a0 RDI: 0000000000000003
[    2.577970] RBP: 0000560f307024a0 R08: 0000000000000000 R09: 00007f0e49a762a0
[    2.578079] R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
[    2.578195] R13: 0000000000000000 R14: 0000560f5fc50400 R15: 0000000000000000
[    2.578322]  </TASK>
[    2.578401] Modules linked in: bug(OE+) 9p fscache netfs 9pnet_virtio 9pnet virtio_console virtio_pci virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev
[    2.579017] ---[ end trace 0000000000000000 ]---
[    2.579123] RIP: 0010:bug_init+0x5/0x1000 [bug]
[    2.579218] Code: Unable to access opcode bytes at 0xffffffffc0229fdb.
[    2.579327] RSP: 0018:ffffc900005bbc60 EFLAGS: 00000246
[    2.579413] RAX: 0000000000000000 RBX: ffffffffc022a000 RCX: 0000000000000000
[    2.579522] RDX: 0000000000000000 RSI: ffffffffc022a000 RDI: ffffc900005bbc48
[    2.579631] RBP: ffff88800f848090 R08: 0000000000000010 R09: ffff88800f848090
[    2.579740] R10: ffff8880058d96f8 R11: 000000003ed2b89b R12: ffffc900005bbc68
[    2.579850] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[    2.579960] FS:  00007f0e4989a040(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[    2.580085] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[    2.580275] CR2: ffffffffc0229fdb CR3: 0000000006124000 CR4: 00000000000006f0
"""

# reading a non-canonical address (0xdead000000000122) in a module's init
GPF = r"""[    2.466484] gpf: loading out-of-tree module taints kernel.
[    2.466864] gpf: module verification failed: signature and/or required key missing - tainting kernel
[    2.468343] general protection fault, maybe for address 0x0: 0000 [#1] PREEMPT SMP NOPTI
[    2.468592] CPU: 0 PID: 135 Comm: insmod Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[    2.468811] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[    2.469032] RIP: 0010:gpf_init+0x5/0x1000 [gpf]
[    2.469440] Code: Unable to access opcode bytes at 0xffffffffc0229fdb.
[    2.474147] RSP: 0018:ffffc900005bbb88 EFLAGS: 00000246
[    2.474276] RAX: 0000000000000000 RBX: ffffffffc022a000 RCX: 0000000000000000
[    2.474395] RDX: 0000000000000000 RSI: ffffffffc022a000 RDI: ffffc900005bbb70
[    2.474506] RBP: ffff8880062db980 R08: 0000000000000010 R09: ffff8880062db980
[    2.474702] R10: ffff8880058d9b88 R11: 00000000f9a7b508 R12: ffffc900005bbb90
[    2.474815] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[    2.474967] FS:  00007fa4418f2040(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[    2.475103] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[    2.475204] CR2: ffffffffc0229fdb CR3: 0000000006124000 CR4: 00000000000006f0
[    2.475430] Call Trace:
[    2.475805]  <TASK>
[    2.475905]  do_one_initcall+0x59/0x220
[    2.476134]  do_init_module+0x4a/0x1f0
[    2.476215]  __do_sys_finit_module+0xac/0x120
[    2.476295]  do_syscall_64+0x5d/0xb0
[    2.476379]  ? vm_mmap_pgoff+0x103/0x180
[    2.476456]  ? __rseq_handle_notify_resume+0xa9/0x480
[    2.476542]  ? ksys_mmap_pgoff+0xe8/0x1f0
[    2.476611]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.476692]  ? syscall_exit_to_user_mode+0x1e/0x40
[    2.476770]  ? do_syscall_64+0x69/0xb0
[    2.476834]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.476914]  ? syscall_exit_to_user_mode+0x1e/0x40
[    2.476991]  ? do_syscall_64+0x69/0xb0
[    2.477058]  ? handle_mm_fault+0xdb/0x2d0
[    2.477126]  ? do_user_addr_fault+0x1b0/0x570
[    2.477202]  ? exit_to_user_mode_prepare+0x44/0x240
[    2.477282]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[    2.477429] RIP: 0033:0x7fa4419f4829
[    2.477601] Code: 08 89 e8 5b 5d c3 66 2e 0f 1f 84 00 00 00 00 00 90 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d 89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d a7 15 0d 00 f7 d8 64 89 01 48
[    2.477913] RSP: 002b:00007ffda5a27a68 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
[    2.478050] RAX: ffffffffffffffda RBX: 000055a1d3419760 RCX: 00007fa4419f4829
[    2.478160] RDX: 0000000000000000 RSI: 000055a1ca5724a0 RDI: 0000000000000003
[    2.478268] RBP: 000055a1ca5724a0 R08: 0000000000000000 R09: 00007fa441ace2a0
[    2.478375] R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
[    2.478482] R13: 0000000000000000 R14: 000055a1d3419400 R15: 0000000000000000
[    2.478609]  </TASK>
[    2.478682] Modules linked in: gpf(OE+) 9p fscache netfs 9pnet_virtio 9pnet virtio_console virtio_pci virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev
[    2.479720] ---[ end trace 0000000000000000 ]---
[    2.479886] RIP: 0010:gpf_init+0x5/0x1000 [gpf]
[    2.479991] Code: Unable to access opcode bytes at 0xffffffffc0229fdb.
[    2.480187] RSP: 0018:ffffc900005bbb88 EFLAGS: 00000246
[    2.480301] RAX: 0000000000000000 RBX: ffffffffc022a000 RCX: 0000000000000000
[    2.480409] RDX: 0000000000000000 RSI: ffffffffc022a000 RDI: ffffc900005bbb70
[    2.480517] RBP: ffff8880062db980 R08: 0000000000000010 R09: ffff8880062db980
[    2.480625] R10: ffff8880058d9b88 R11: 00000000f9a7b508 R12: ffffc900005bbb90
[    2.480734] R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
[    2.480854] FS:  00007fa4418f2040(0000) GS:ffff88800e600000(0000) knlGS:0000000000000000
[    2.481029] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[    2.481128] CR2: ffffffffc0229fdb CR3: 0000000006124000 CR4: 00000000000006f0
"""

# Synthetic: what the kernel prints last when panic= does not reboot (the capture above ran
# with panic=-1, so QEMU exited before this line).
PANIC_END = "[    2.895300] ---[ end Kernel panic - not syncing: boom from a module ]---\n"


def wire(text: str) -> bytes:
    """Console text as the serial port sends it: CRLF line ends."""
    return text.replace("\n", "\r\n").encode()


def feed(recorder: ConsoleRecorder, data: bytes, size: int) -> None:
    """Hand ``data`` to the recorder in chunks of ``size`` bytes, as recv() might."""
    for start in range(0, len(data), size):
        recorder._feed(data[start : start + size])


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class Rig:
    """A started recorder on one end of a socketpair; ``guest`` is QEMU's end."""

    def __init__(self, tmp_path: Path, **kwargs: object) -> None:
        host, self.guest = socket.socketpair()
        self.reports: list[CrashReport] = []
        self.log_path = tmp_path / "logs" / "console.log"
        self.recorder = ConsoleRecorder(host, self.log_path, on_crash=self.reports.append, **kwargs)
        self.recorder.start()

    def send(self, text: str) -> None:
        self.guest.sendall(wire(text))

    def close(self) -> None:
        self.guest.close()
        self.recorder.stop()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, settle=0.2)
    yield rig
    rig.close()


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[ConsoleRecorder]:
    """A recorder fed by hand through ``_feed`` (no thread), for exact chunk boundaries."""
    host, guest = socket.socketpair()
    recorder = ConsoleRecorder(host, tmp_path / "console.log")
    yield recorder
    recorder.stop()
    guest.close()


# ---------------------------------------------------------------------- recording


def test_text_has_no_carriage_returns_and_goes_to_the_log(rig: Rig) -> None:
    rig.send("hello\nworld\n")
    assert rig.recorder.wait_for("world\n", timeout=5)
    assert rig.recorder.text() == "hello\nworld\n"
    assert rig.recorder.tail(1) == ["world"]
    log_text = rig.log_path.read_text()
    assert "kernelmagic console recording started" in log_text
    assert log_text.endswith("hello\nworld\n")
    assert "\r" not in log_text


def test_log_file_is_appended_across_recordings(tmp_path: Path) -> None:
    for word in ("first", "second"):
        rig = Rig(tmp_path)
        rig.send(f"{word} boot\n")
        assert rig.recorder.wait_for(f"{word} boot", timeout=5)
        rig.close()
    text = (tmp_path / "logs" / "console.log").read_text()
    assert text.count("recording started") == 2
    assert text.index("first boot") < text.index("second boot")


def test_utf8_and_crlf_survive_any_chunk_boundary(offline: ConsoleRecorder) -> None:
    feed(offline, "héllo ✓ wörld\r\nnext\r\n".encode(), 1)
    assert offline.text() == "héllo ✓ wörld\nnext\n"


def test_invalid_utf8_is_replaced(offline: ConsoleRecorder) -> None:
    feed(offline, b"bad \xff byte\r\n", 3)
    assert offline.text() == "bad \ufffd byte\n"


def test_ring_keeps_the_newest_text_and_marks_stay_absolute(tmp_path: Path) -> None:
    host, guest = socket.socketpair()
    recorder = ConsoleRecorder(host, tmp_path / "c.log", max_bytes=64)
    data = "".join(f"line {i:03d}\n" for i in range(100))  # 900 characters
    feed(recorder, data.encode(), 37)
    assert recorder.text() == data[-64:]
    assert recorder.mark() == len(data)
    assert recorder.since(0) == data[-64:]
    assert recorder.since(len(data) - 9) == "line 099\n"
    assert recorder.since(len(data)) == ""
    recorder.stop()
    guest.close()


def test_tail_counts_an_unterminated_line(offline: ConsoleRecorder) -> None:
    feed(offline, b"a\r\nb\r\nprompt# ", 4)
    assert offline.tail(2) == ["b", "prompt# "]
    assert offline.tail(0) == []


def test_mark_and_since(offline: ConsoleRecorder) -> None:
    feed(offline, b"before\r\n", 100)
    mark = offline.mark()
    feed(offline, b"after\r\n", 100)
    assert offline.since(mark) == "after\n"


def test_wait_for_sees_text_that_arrives_later(rig: Rig) -> None:
    rig.send("login: old\n")
    assert rig.recorder.wait_for("login: old\n", timeout=5)
    mark = rig.recorder.mark()
    timer = threading.Timer(0.1, rig.send, args=("Run /init as init process\nlogin: new\n",))
    timer.start()
    match = rig.recorder.wait_for(r"login: (\w+)", timeout=5, since=mark)
    timer.join()
    assert match is not None
    assert match.group(1) == "new"


def test_wait_for_times_out(rig: Rig) -> None:
    started = time.monotonic()
    assert rig.recorder.wait_for("never", timeout=0.2) is None
    assert time.monotonic() - started >= 0.2


def test_end_of_file_closes_and_ends_waits(rig: Rig) -> None:
    rig.send("last words\n")
    rig.guest.close()
    assert rig.recorder.wait_closed(5)
    assert rig.recorder.closed
    started = time.monotonic()
    assert rig.recorder.wait_for("never", timeout=30) is None
    assert time.monotonic() - started < 5
    assert rig.recorder.text() == "last words\n"


def test_stop_is_safe_twice_and_before_start(tmp_path: Path) -> None:
    host, guest = socket.socketpair()
    recorder = ConsoleRecorder(host, tmp_path / "c.log")
    recorder.stop()
    recorder.stop()
    assert recorder.closed
    guest.close()
    rig = Rig(tmp_path)
    rig.close()
    rig.recorder.stop()


# ---------------------------------------------------------------------- crash reports

CASES = {
    "oops": dict(
        text=OOPS,
        kind="oops",
        title="BUG: kernel NULL pointer dereference, address: 0000000000000000",
        module="crash",
        function="crash_init",
        offset=0x13,
        fatal=False,
        last="---[ end trace 0000000000000000 ]---",
    ),
    "oops in irq, then panic": dict(
        text=OOPS_IN_IRQ_THEN_PANIC,
        kind="oops",
        title="BUG: kernel NULL pointer dereference, address: 0000000000000008",
        module="boom",
        function="tick_fn",
        offset=0x5,
        fatal=True,
        last="Kernel Offset: disabled",
    ),
    "panic": dict(
        text=PANIC + PANIC_END,
        kind="panic",
        title="Kernel panic - not syncing: boom from a module",
        module="panic",
        function="pan_init",
        offset=0x11,
        fatal=True,
        last="---[ end Kernel panic - not syncing: boom from a module ]---",
    ),
    "hung task": dict(
        text=HUNG_TASK,
        kind="hung task",
        title="INFO: task insmod:137 blocked for more than 3 seconds.",
        module="hang",
        function="hang_init",
        offset=0xF,
        fatal=False,
        last=" </TASK>",
    ),
    "scheduling while atomic": dict(
        text=SCHEDULING_WHILE_ATOMIC,
        kind="BUG",
        title="BUG: scheduling while atomic: insmod/135/0x00000002",
        module="atomic",
        function="atomic_init",
        offset=0x1B,
        fatal=False,
        last=" </TASK>",
    ),
    "kernel BUG": dict(
        text=KERNEL_BUG,
        kind="BUG",
        title="kernel BUG at /tmp/km/builds/lesson/bug.c:5!",
        module="bug",
        function="bug_init",
        offset=0x5,
        fatal=False,
        last="---[ end trace 0000000000000000 ]---",
        location="/tmp/km/builds/lesson/bug.c:5",
    ),
    "general protection fault": dict(
        text=GPF,
        kind="general protection fault",
        title="general protection fault, maybe for address 0x0: 0000 [#1] PREEMPT SMP NOPTI",
        module="gpf",
        function="gpf_init",
        offset=0x5,
        fatal=False,
        last="---[ end trace 0000000000000000 ]---",
    ),
}


@pytest.mark.parametrize("size", [1, 13, 4096])
@pytest.mark.parametrize("case", list(CASES))
def test_crash_reports_are_cut_and_decoded(tmp_path: Path, case: str, size: int) -> None:
    expected = CASES[case]
    host, guest = socket.socketpair()
    reports: list[CrashReport] = []
    recorder = ConsoleRecorder(host, tmp_path / "c.log", on_crash=reports.append)
    feed(recorder, wire("[    2.000000] some earlier line\n"), 4096)
    feed(recorder, wire(expected["text"]), size)
    recorder.stop()  # completes a report that QEMU's exit cut short (the irq panic)
    guest.close()

    crash = recorder.crash
    assert crash is not None
    assert crash.kind == expected["kind"] and crash.kind in CRASH_KINDS
    assert crash.title == expected["title"]
    assert crash.report.startswith(expected["title"])
    assert crash.report.splitlines()[-1] == expected["last"]
    assert (crash.module, crash.function, crash.offset) == (
        expected["module"],
        expected["function"],
        expected["offset"],
    )
    assert crash.fatal is expected["fatal"]
    assert crash.location == expected.get("location")
    assert "[    2." not in crash.report, "timestamps are stripped"
    assert "out-of-tree" not in crash.report, "lines before the report stay out"
    assert recorder.text()[crash.position :].split("] ", 1)[1].startswith(expected["title"])
    assert len(recorder.crashes) == 1
    assert reports and reports[-1] == crash


def test_oops_is_complete_at_end_trace_without_waiting(rig: Rig) -> None:
    rig.send(OOPS)
    wait_until(lambda: rig.recorder.crash is not None)
    assert rig.reports == [rig.recorder.crash]
    assert not rig.recorder.closed


def test_panic_after_oops_makes_it_fatal_and_reports_again(offline: ConsoleRecorder) -> None:
    reports: list[CrashReport] = []
    offline.on_crash = reports.append
    feed(offline, wire(OOPS_IN_IRQ_THEN_PANIC + "[    2.629400] ---[ end Kernel panic ]---\n"), 64)
    assert [r.fatal for r in reports] == [False, True]
    assert reports[1].title == reports[0].title
    assert "Kernel panic - not syncing: Fatal exception in interrupt" in reports[1].report
    assert offline.crash == reports[1]


def test_rcu_stall_then_soft_lockup(offline: ConsoleRecorder) -> None:
    feed(offline, wire(RCU_STALL_THEN_SOFT_LOCKUP), 512)
    offline.stop()
    stall, lockup = offline.crashes
    assert stall.kind == "rcu stall"
    assert stall.title == "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"
    assert (stall.module, stall.function, stall.offset) == ("spin", "spin_init", 0xE)
    assert "soft lockup" not in stall.report
    assert lockup.kind == "soft lockup"
    assert lockup.title == "watchdog: BUG: soft lockup - CPU#0 stuck for 45s! [insmod:135]"
    assert (lockup.module, lockup.function) == ("spin", "spin_init")
    assert lockup.report.splitlines()[-1] == " </TASK>"
    assert offline.crash == stall


def test_soft_lockup_ends_at_its_stack_dump(rig: Rig) -> None:
    start = RCU_STALL_THEN_SOFT_LOCKUP.index("[   48.527137]")
    rig.send(RCU_STALL_THEN_SOFT_LOCKUP[start:])
    wait_until(lambda: rig.recorder.crash is not None)
    assert rig.recorder.crash.kind == "soft lockup"


def test_report_without_an_end_completes_after_silence(rig: Rig) -> None:
    cut = OOPS.index("[    2.927956] ---[ end trace")
    rig.send(OOPS[:cut])
    wait_until(lambda: rig.recorder.crash is not None)
    crash = rig.recorder.crash
    assert crash.kind == "oops" and crash.function == "crash_init"
    assert not rig.recorder.closed


def test_report_cut_by_end_of_file_is_reported(tmp_path: Path) -> None:
    rig = Rig(tmp_path, settle=60)
    rig.send(PANIC)
    rig.guest.close()
    assert rig.recorder.wait_closed(5)
    crash = rig.recorder.crash
    assert crash is not None and crash.kind == "panic" and crash.fatal
    assert crash.report.splitlines()[-1] == "Kernel Offset: disabled"
    assert rig.reports == [crash]
    rig.close()


def test_warning_is_collected_but_is_not_a_crash(offline: ConsoleRecorder) -> None:
    feed(offline, wire(WARNING), 100)
    assert offline.crash is None
    (warning,) = offline.warnings
    assert warning.kind == "warning"
    assert warning.title == (
        "WARNING: CPU: 0 PID: 135 at /tmp/km/builds/lesson/warn.c:5 warn_init+0x5/0x1000 [warn]"
    )
    assert warning.location == "/tmp/km/builds/lesson/warn.c:5"
    assert (warning.module, warning.function, warning.offset) == ("warn", "warn_init", 5)
    assert warning.report.splitlines()[-1] == "---[ end trace 0000000000000000 ]---"
    assert "cut here" not in warning.report


def test_bug_and_the_warning_after_it(offline: ConsoleRecorder) -> None:
    feed(offline, wire(SCHEDULING_WHILE_ATOMIC), 100)
    assert offline.crash is not None and offline.crash.kind == "BUG"
    (warning,) = offline.warnings
    assert warning.location == "init/main.c:1284"
    assert (warning.module, warning.function) == (None, "do_one_initcall")


def test_crashes_since_and_clear_crash(offline: ConsoleRecorder) -> None:
    feed(offline, wire(OOPS), 4096)
    mark = offline.mark()
    assert offline.crashes_since(0) == offline.crashes
    assert offline.crashes_since(mark) == []
    feed(offline, wire(GPF), 4096)
    assert [c.kind for c in offline.crashes_since(mark)] == ["general protection fault"]
    assert offline.crash is not None and offline.crash.kind == "oops"
    feed(offline, wire(WARNING), 4096)
    offline.clear_crash()
    assert offline.crash is None and offline.crashes == [] and offline.warnings == []


def test_a_failing_callback_is_logged_not_fatal(
    offline: ConsoleRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(report: CrashReport) -> None:
        raise RuntimeError("callback bug")

    offline.on_crash = explode
    with caplog.at_level(logging.ERROR, logger="kernelmagic.machine.console"):
        feed(offline, wire(OOPS), 4096)
    assert "on_crash callback failed" in caplog.text
    assert offline.crash is not None


def test_ordinary_boot_lines_are_not_crashes(offline: ConsoleRecorder) -> None:
    boot = (
        "[    0.000000] Command line: console=ttyS0 nokaslr quiet panic=-1 loglevel=8\n"
        '[    0.693138] PCI: Using host bridge windows from ACPI; if necessary, use "pci=nocrs" and report a bug\n'
        "[    1.114694] AMD-Vi: AMD IOMMUv2 functionality not available on this system - This is not a bug.\n"
        "[    2.913175] crash: loading out-of-tree module taints kernel.\n"
        "[    2.918525] crash: module verification failed: signature and/or required key missing - tainting kernel\n"
        "[    3.000000] hello: Hello, world!\n"
    )
    feed(offline, wire(boot), 7)
    offline.stop()
    assert offline.crashes == [] and offline.warnings == []
