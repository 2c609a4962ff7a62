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
    libc::SYS_tgkill,
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

/// The last step, once the worker's threads run: the seccomp filter, on every thread.
#[cfg(target_os = "linux")]
pub fn seccomp() -> Option<String> {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    let arch = if cfg!(target_arch = "x86_64") {
        TargetArch::x86_64
    } else if cfg!(target_arch = "aarch64") {
        TargetArch::aarch64
    } else {
        return Some("seccomp: no filter for this CPU architecture".into());
    };
    let rules = ALLOWED.iter().map(|call| (*call, Vec::new())).collect();
    // SAFETY: installs a handler that only makes async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = forbidden as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut());
    }
    let program = SeccompFilter::new(rules, SeccompAction::Trap, SeccompAction::Allow, arch)
        .and_then(BpfProgram::try_from);
    match program {
        Ok(program) => seccompiler::apply_filter_all_threads(&program)
            .err()
            .map(|e| format!("seccomp: {e}")),
        Err(error) => Some(format!("seccomp: {error}")),
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
pub fn seccomp() -> Option<String> {
    None
}
