//! What a worker does to itself before it accepts code: death with its parent, a fresh network
//! namespace, resource limits, Landlock (no filesystem, no TCP), `PR_SET_NO_NEW_PRIVS`, and last
//! a seccomp filter that allows only the system calls a run needs.
//!
//! Each step the kernel refuses is reported (in words, to the parent) and the others still
//! apply. The order matters: a network namespace needs a single-threaded process, so it comes
//! first; the seccomp filter comes last, after the worker has made every thread and file it
//! will ever have, so that it can forbid making more.

#[cfg(target_os = "linux")]
unsafe extern "C" {
    /// The C library's `tzset(3)`.
    fn tzset();
}

/// Resource limits for one worker.
#[derive(Clone, Copy, Debug)]
pub struct Rlimits {
    /// Address space, in bytes.
    pub address_space: u64,
    /// CPU time, in seconds.
    pub cpu_seconds: u64,
}

/// The steps before the worker starts its threads. Returns what the kernel refused.
#[cfg(target_os = "linux")]
pub fn before_threads(parent: libc::pid_t, limits: Rlimits) -> Vec<String> {
    let mut refused = Vec::new();
    // Local time is UTC, from a rule rather than a file: without it the C library reads
    // /etc/localtime on every conversion, which the jail forbids.
    // SAFETY: single-threaded still; nothing else reads the environment now.
    unsafe {
        std::env::set_var("TZ", ":UTC");
        tzset();
    }
    // One malloc arena for every thread: a second arena, when it shrinks, reads
    // /proc/sys/vm/overcommit_memory, which the jail forbids.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt with integer arguments, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    // SAFETY: prctl and getppid with plain integer arguments.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            refused.push(format!(
                "death with the parent: {}",
                std::io::Error::last_os_error()
            ));
        }
        // The parent may have died before the line above took effect.
        if libc::getppid() != parent {
            std::process::exit(1);
        }
    }
    if let Err(error) = network_namespace() {
        refused.push(format!("a network namespace: {error}"));
    }
    let limit = |resource, value: u64| -> std::io::Result<()> {
        let rlimit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit with a valid pointer to a local.
        if unsafe { libc::setrlimit(resource, &rlimit) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    for (name, resource, value) in [
        ("address space", libc::RLIMIT_AS, limits.address_space),
        ("CPU time", libc::RLIMIT_CPU, limits.cpu_seconds),
        ("open files", libc::RLIMIT_NOFILE, 16),
        ("file size", libc::RLIMIT_FSIZE, 0),
        ("core dumps", libc::RLIMIT_CORE, 0),
    ] {
        if let Err(error) = limit(resource, value) {
            refused.push(format!("the {name} limit: {error}"));
        }
    }
    refused.extend(landlock());
    // SAFETY: prctl with plain integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        refused.push(format!(
            "no new privileges: {}",
            std::io::Error::last_os_error()
        ));
    }
    refused
}

/// A network namespace of our own: no interface but a down loopback. Tried as is (with
/// `CAP_SYS_ADMIN`), then inside a new user namespace (unprivileged).
#[cfg(target_os = "linux")]
fn network_namespace() -> std::io::Result<()> {
    // SAFETY: unshare with flags only.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0 {
        return Ok(());
    }
    // SAFETY: as above.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } == 0 {
        return Ok(());
    }
    Err(std::io::Error::last_os_error())
}

/// No filesystem access and no TCP, as far as the kernel's Landlock goes.
#[cfg(target_os = "linux")]
fn landlock() -> Option<String> {
    use landlock::{ABI, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetStatus};
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI::V6))
        .and_then(|r| r.handle_access(AccessNet::from_all(ABI::V6)))
        .and_then(|r| r.create())
        .and_then(|r| r.restrict_self());
    match status {
        Ok(status) => match status.ruleset {
            RulesetStatus::FullyEnforced => None,
            RulesetStatus::PartiallyEnforced => {
                Some("Landlock: only partly enforced by this kernel".into())
            }
            RulesetStatus::NotEnforced => {
                Some("Landlock: not enabled in this kernel (no filesystem restriction)".into())
            }
        },
        Err(error) => Some(format!("Landlock: {error}")),
    }
}

/// The system calls a worker makes once its threads run: memory, time, futexes, reading its
/// stdin and writing its stdout and stderr, signals and exiting. Everything else (opening files,
/// sockets, new processes or threads, `ptrace`, ...) kills the worker with SIGSYS, after it
/// says on stderr which call it was.
#[cfg(target_os = "linux")]
const ALLOWED: &[libc::c_long] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_close,
    libc::SYS_futex,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_brk,
    libc::SYS_madvise,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_getrandom,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_ppoll,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_ctl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_wait,
    libc::SYS_rseq,
    libc::SYS_set_robust_list,
    libc::SYS_membarrier,
    libc::SYS_prlimit64,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_poll,
];

/// The seccomp filter of [`ALLOWED`] and [`ON_ITSELF`], compiled for one process.
#[cfg(target_os = "linux")]
#[derive(Clone, Debug)]
pub struct Filter(Result<Vec<libc::sock_filter>, String>);

/// The system calls a worker may make only on itself (its first argument its own process id):
/// a signal to one of its threads (`raise`, `abort`), never to its parent or another worker.
#[cfg(target_os = "linux")]
const ON_ITSELF: &[libc::c_long] = &[libc::SYS_tgkill];

/// Compiles the filter that [`seccomp`] applies for the process `own` (its id): a check of
/// the architecture, the calls of [`ON_ITSELF`] with their first argument, then a binary
/// search of the allowed system call numbers. The kernel, as it installs a filter, runs it for
/// every system call number to learn which are always allowed (and skips the filter for those
/// afterwards); a search of a few comparisons a number, rather than one per allowed call,
/// keeps that to a few microseconds.
#[cfg(target_os = "linux")]
pub fn filter(own: u32) -> Filter {
    let arch = if cfg!(target_arch = "x86_64") {
        AUDIT_ARCH_X86_64
    } else if cfg!(target_arch = "aarch64") {
        AUDIT_ARCH_AARCH64
    } else {
        return Filter(Err("seccomp: no filter for this CPU architecture".into()));
    };
    let mut allowed: Vec<u32> = ALLOWED.iter().map(|call| *call as u32).collect();
    allowed.sort_unstable();
    allowed.dedup();
    let on_itself: Vec<u32> = ON_ITSELF.iter().map(|call| *call as u32).collect();
    Filter(
        bpf::program(arch, &allowed, &on_itself, own).map_err(|error| format!("seccomp: {error}")),
    )
}

#[cfg(target_os = "linux")]
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
#[cfg(target_os = "linux")]
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

/// The last step, once the worker's threads run: the seccomp filter, on every thread.
#[cfg(target_os = "linux")]
pub fn seccomp(filter: &Filter) -> Option<String> {
    // SAFETY: installs a handler that only makes async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = forbidden as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut());
    }
    let program = match &filter.0 {
        Ok(program) => program,
        Err(error) => return Some(error.clone()),
    };
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: the seccomp system call with a program that outlives it; no_new_privs is set.
    let done = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_TSYNC,
            &fprog as *const libc::sock_fprog,
        )
    };
    match done {
        0 => None,
        -1 => Some(format!("seccomp: {}", std::io::Error::last_os_error())),
        thread => Some(format!(
            "seccomp: thread {thread} could not take the filter"
        )),
    }
}

/// The filter's program, in classic BPF.
#[cfg(target_os = "linux")]
mod bpf {
    use libc::sock_filter;

    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const JA: u16 = 0x05; // BPF_JMP | BPF_JA
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    /// Offsets in `struct seccomp_data`: the call's number, the architecture, the low half
    /// of the first argument (little-endian).
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    const ARG0: u32 = 16;
    /// x86_64's x32 system calls have this bit set; none is allowed.
    const X32: u32 = 0x4000_0000;

    #[derive(Clone, Copy)]
    enum To {
        Next,
        Allow,
        Deny,
        At(usize),
    }

    struct Op {
        code: u16,
        k: u32,
        yes: To,
        no: To,
    }

    /// Allows the calls of `allowed` (sorted, without repeats) of architecture `arch`, and
    /// those of `on_itself` whose first argument is `own`, and traps everything else.
    pub(super) fn program(
        arch: u32,
        allowed: &[u32],
        on_itself: &[u32],
        own: u32,
    ) -> Result<Vec<sock_filter>, String> {
        let op = |code, k, yes, no| Op { code, k, yes, no };
        let mut ops = vec![
            op(LD_W_ABS, ARCH, To::Next, To::Next),
            op(JEQ_K, arch, To::Next, To::Deny),
            op(LD_W_ABS, NR, To::Next, To::Next),
        ];
        if arch == super::AUDIT_ARCH_X86_64 {
            ops.push(op(JGE_K, X32, To::Deny, To::Next));
        }
        for call in on_itself {
            // Not this call: skip its two checks. This call: its first argument decides.
            let past = ops.len() + 3;
            ops.push(op(JEQ_K, *call, To::Next, To::At(past)));
            ops.push(op(LD_W_ABS, ARG0, To::Next, To::Next));
            ops.push(op(JEQ_K, own, To::Allow, To::Deny));
        }
        search(allowed, &mut ops);
        let allow = ops.len();
        let deny = allow + 1;
        let mut program = Vec::with_capacity(ops.len() + 2);
        for (at, op) in ops.iter().enumerate() {
            let offset = |to: To| -> Result<u32, String> {
                let target = match to {
                    To::Next => at + 1,
                    To::Allow => allow,
                    To::Deny => deny,
                    To::At(target) => target,
                };
                target
                    .checked_sub(at + 1)
                    .map(|n| n as u32)
                    .ok_or_else(|| "a backward jump".to_string())
            };
            let (yes, no) = (offset(op.yes)?, offset(op.no)?);
            let (jt, jf, k) = if op.code == JA {
                (0, 0, yes)
            } else if op.code == RET_K || op.code == LD_W_ABS {
                (0, 0, op.k)
            } else {
                let short = |n: u32| u8::try_from(n).map_err(|_| "a jump too far".to_string());
                (short(yes)?, short(no)?, op.k)
            };
            program.push(sock_filter {
                code: op.code,
                jt,
                jf,
                k,
            });
        }
        program.push(sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        });
        program.push(sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_TRAP,
        });
        Ok(program)
    }

    /// A binary search of `calls` for the number loaded: a comparison per level, then at most
    /// three equality tests.
    fn search(calls: &[u32], ops: &mut Vec<Op>) {
        if calls.len() <= 3 {
            for call in calls {
                ops.push(Op {
                    code: JEQ_K,
                    k: *call,
                    yes: To::Allow,
                    no: To::Next,
                });
            }
            ops.push(Op {
                code: JA,
                k: 0,
                yes: To::Deny,
                no: To::Deny,
            });
            return;
        }
        let middle = calls.len() / 2;
        let at = ops.len();
        ops.push(Op {
            code: JGE_K,
            k: calls[middle],
            yes: To::Next,
            no: To::Next,
        });
        search(&calls[..middle], ops);
        ops[at].yes = To::At(ops.len());
        search(&calls[middle..], ops);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// What the kernel would answer for `nr` of `arch`: runs the program as the kernel's
        /// classic BPF interpreter does, for the instructions it uses.
        fn run(program: &[sock_filter], arch: u32, nr: u32, arg0: u32) -> u32 {
            let (mut at, mut a) = (0, 0);
            loop {
                let op = program[at];
                at += 1;
                match op.code {
                    LD_W_ABS if op.k == ARCH => a = arch,
                    LD_W_ABS if op.k == ARG0 => a = arg0,
                    LD_W_ABS => a = nr,
                    JEQ_K => at += usize::from(if a == op.k { op.jt } else { op.jf }),
                    JGE_K => at += usize::from(if a >= op.k { op.jt } else { op.jf }),
                    JA => at += op.k as usize,
                    RET_K => return op.k,
                    other => panic!("an instruction it does not use: {other:#x}"),
                }
            }
        }

        #[test]
        fn allows_exactly_the_calls_listed_and_only_for_its_architecture() {
            for allowed in [
                vec![],
                vec![7],
                vec![0, 1, 2],
                (0..40).map(|n| n * 3 + 1).collect(),
            ] {
                let arch = super::super::AUDIT_ARCH_X86_64;
                let program = program(arch, &allowed, &[], 0).unwrap();
                for nr in (0..200).chain([X32, X32 + 1, u32::MAX]) {
                    let expected = if allowed.contains(&nr) {
                        libc::SECCOMP_RET_ALLOW
                    } else {
                        libc::SECCOMP_RET_TRAP
                    };
                    assert_eq!(run(&program, arch, nr, 0), expected, "{nr} of {allowed:?}");
                    assert_eq!(run(&program, 0x4000_0003, nr, 0), libc::SECCOMP_RET_TRAP);
                }
                assert!(program.len() <= 2 * allowed.len() + 8, "{}", program.len());
            }
            // The worker's own list: every comparison path is short.
            let mut calls: Vec<u32> = super::super::ALLOWED.iter().map(|c| *c as u32).collect();
            calls.sort_unstable();
            calls.dedup();
            let (arch, own, tgkill) = (super::super::AUDIT_ARCH_X86_64, 4242, 234);
            let program = program(arch, &calls, &[tgkill], own).unwrap();
            for nr in (0..500).filter(|nr| *nr != tgkill) {
                let allowed = run(&program, arch, nr, own) == libc::SECCOMP_RET_ALLOW;
                assert_eq!(allowed, calls.contains(&nr), "{nr}");
            }
            // A signal to itself, never to another process.
            assert_eq!(run(&program, arch, tgkill, own), libc::SECCOMP_RET_ALLOW);
            for other in [1, own - 1, own + 1, 0, u32::MAX] {
                assert_eq!(run(&program, arch, tgkill, other), libc::SECCOMP_RET_TRAP);
            }
        }
    }
}

/// The SIGSYS handler: says which system call was refused (on stderr, which the parent logs),
/// then dies of SIGSYS.
#[cfg(target_os = "linux")]
extern "C" fn forbidden(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // The system call number sits after si_signo, si_errno, si_code (and padding), a pointer
    // (si_call_addr) in the SIGSYS layout of siginfo_t.
    // SAFETY: the kernel passes a valid siginfo_t for SIGSYS.
    let number = unsafe {
        let base = info.cast::<u8>().add(16 + std::mem::size_of::<usize>());
        base.cast::<libc::c_int>().read_unaligned()
    };
    let mut message = *b"worker: forbidden system call 0000000000\n";
    let mut n = number.unsigned_abs();
    let mut i = message.len() - 2;
    loop {
        message[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
        i -= 1;
    }
    let start = b"worker: forbidden system call ".len();
    // SAFETY: write, signal and raise are async-signal-safe.
    unsafe {
        libc::write(2, message.as_ptr().cast(), start);
        libc::write(2, message[i..].as_ptr().cast(), message.len() - i);
        libc::signal(libc::SIGSYS, libc::SIG_DFL);
        libc::raise(libc::SIGSYS);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn before_threads(_parent: i32, _limits: Rlimits) -> Vec<String> {
    vec!["process jail: only built for Linux; the worker runs unconfined".into()]
}

#[cfg(not(target_os = "linux"))]
#[derive(Clone, Debug)]
pub struct Filter;

#[cfg(not(target_os = "linux"))]
pub fn filter(_own: u32) -> Filter {
    Filter
}

#[cfg(not(target_os = "linux"))]
pub fn seccomp(_filter: &Filter) -> Option<String> {
    None
}
