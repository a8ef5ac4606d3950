// The guest's only imports: Xen's hypercalls, module "xen". Each `arg`/`uop`/`buf`
// is a linear-memory offset to a struct laid out as in Xen's x86_64 headers
// (see layout.ts); results are 0 or -errno, or a non-negative value where Xen
// returns one. A native unikernel implements each by adding its memory base to
// the pointers and issuing the real hypercall.

@external("xen", "event_channel_op")
export declare function event_channel_op(cmd: i32, arg: usize): i32;

@external("xen", "grant_table_op")
export declare function grant_table_op(cmd: i32, uop: usize, count: u32): i32;

@external("xen", "memory_op")
export declare function memory_op(cmd: i32, arg: usize): i32;

@external("xen", "hvm_op")
export declare function hvm_op(cmd: i32, arg: usize): i32;

@external("xen", "sched_op")
export declare function sched_op(cmd: i32, arg: usize): i32;

@external("xen", "console_io")
export declare function console_io(cmd: i32, count: u32, buf: usize): i32;

@external("xen", "xen_version")
export declare function xen_version(cmd: i32, arg: usize): i32;
