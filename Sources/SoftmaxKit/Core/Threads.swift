#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How many threads the kernels may use, and the small pool that runs them.
///
/// Large calls (at least `parallelThreshold` elements) split their rows into
/// chunks run by the caller and up to `threadCount - 1` persistent workers;
/// small calls never touch the pool. If the pool is busy with another call
/// (say, several application threads each calling a kernel), the newcomer
/// simply runs its whole call on its own thread: no queueing, no deadlock,
/// no oversubscription. The thread count and the pool are the library's only
/// global mutable state besides the C ABI's thread-local error message.
public enum Threading {
    /// Threads a kernel call may use (>= 1). Defaults to the environment
    /// variable `SOFTMAXKIT_NUM_THREADS` when set to a positive integer, else
    /// the number of cores the process may run on. Setting a value < 1
    /// restores the default.
    public static var threadCount: Int {
        get { pool.lock(); defer { pool.unlock() }; return pool.threadLimit }
        set {
            pool.lock(); defer { pool.unlock() }
            pool.threadLimit = newValue >= 1 ? min(newValue, 1024) : defaultThreadCount()
        }
    }

    /// The default: `SOFTMAXKIT_NUM_THREADS`, else the cores this process
    /// may run on (its CPU affinity, as OpenMP counts them: under `taskset -c 0`
    /// a second thread would only take turns on the same core).
    public static func defaultThreadCount() -> Int {
        if let env = getenv("SOFTMAXKIT_NUM_THREADS"), let n = Int(String(cString: env)), n >= 1 {
            return min(n, 1024)
        }
        return availableCores()
    }

    /// The cores this process may run on: its affinity mask where the system
    /// reports one, else the online cores.
    static func availableCores() -> Int {
        #if os(Linux)
        // sched_getaffinity is a GNU extension the Glibc module does not
        // import; look it up instead. The mask holds 1024 CPUs (cpu_set_t).
        typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer?) -> Int32
        if let symbol = dlsym(nil, "sched_getaffinity") {
            var mask = [UInt64](repeating: 0, count: 16)
            let rc = mask.withUnsafeMutableBytes {
                unsafeBitCast(symbol, to: GetAffinity.self)(0, $0.count, $0.baseAddress)
            }
            let n = mask.reduce(0) { $0 + $1.nonzeroBitCount }
            if rc == 0 && n > 0 { return n }
        }
        #endif
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

/// Calls at or above this many elements are split across threads (below it,
/// waking a worker costs more than it saves).
@usableFromInline let parallelThreshold = 1 << 19

/// Runs `body` over `0..<count` split into contiguous ranges, in parallel when
/// `work` (elements touched) reaches `parallelThreshold`. `body` must only
/// write to memory its own range owns.
@inlinable
func parallelFor(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
    let threads = plannedThreads(count, work: work)
    if threads < 2 {
        body(0..<count)
        return
    }
    // Several pieces per thread, taken first come first served: a thread that
    // starts late (a worker's wake-up) or runs slow (another process on its
    // core) takes fewer, and the wait for the last piece is at most 1/8 of a
    // thread's share.
    let pieces = min(count, threads * 8)
    pool.run(pieces, threads: threads) { k in body((count * k / pieces)..<(count * (k + 1) / pieces)) }
}

/// Runs `body(k)` for `k` in `0..<pieces`, each on some thread, at most
/// `threads` at once (the caller's thread included).
@inlinable
func parallelPieces(_ pieces: Int, threads: Int, _ body: (Int) -> Void) {
    if threads < 2 || pieces < 2 {
        for k in 0..<pieces { body(k) }
        return
    }
    pool.run(pieces, threads: threads, body)
}

/// How many threads a call over `count` units touching `work` elements should use.
@inlinable
func plannedThreads(_ count: Int, work: Int) -> Int {
    work < parallelThreshold || count < 2 ? 1 : min(Threading.threadCount, count)
}

/// The persistent worker pool. All fields are guarded by `mutex`.
///
/// Waking a sleeping thread (futex) can take tens of microseconds on a
/// virtual machine, a tenth of a parallel call near the threshold. So idle
/// workers poll for a new job for `idleSpin` before they sleep (back-to-back
/// calls find them awake), and the caller polls for the workers' last
/// pieces for `finishSpin` before it sleeps.
@usableFromInline
final class WorkerPool: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    private let done: UnsafeMutablePointer<pthread_cond_t>
    var threadLimit: Int
    private var started = 0
    private var busy = false
    private var job: ((Int) -> Void)?
    private var pieces = 0
    private var next = 0
    private var unfinished = 0
    private var joined = 0
    private var allowed = 0
    private var sleepers = 0
    /// Bumped whenever a job is installed.
    private var generation = 0
    private static let idleSpin = 100_000     // ns
    private static let finishSpin = 100_000   // ns

    init() {
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        done = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        threadLimit = Threading.defaultThreadCount()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    @usableFromInline
    func run(_ pieces: Int, threads: Int, _ body: (Int) -> Void) {
        lock()
        if busy {
            unlock()
            for k in 0..<pieces { body(k) }
            return
        }
        startWorkers(upTo: threads - 1)
        self.pieces = pieces
        next = 0
        unfinished = pieces
        joined = 1
        allowed = threads
        busy = true
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            generation &+= 1
            if sleepers > 0 { pthread_cond_broadcast(wake) }
            drain()
            if unfinished > 0 {
                unlock()
                _ = poll(WorkerPool.finishSpin) { unfinished == 0 }
                lock()
                while unfinished > 0 { pthread_cond_wait(done, mutex) }
            }
            job = nil
        }
        busy = false
        unlock()
    }

    /// Takes chunks until none is left. Called with the mutex held; returns with it held.
    private func drain() {
        while next < pieces, let body = job {
            let k = next
            next += 1
            unlock()
            body(k)
            lock()
            unfinished -= 1
            if unfinished == 0 { pthread_cond_broadcast(done) }
        }
    }

    private func workerLoop() {
        lock()
        while true {
            while job == nil || next >= pieces || joined >= allowed {
                let seen = generation
                unlock()
                let newJob = poll(WorkerPool.idleSpin) { generation != seen }
                lock()
                if !newJob && (job == nil || next >= pieces || joined >= allowed) {
                    sleepers += 1
                    pthread_cond_wait(wake, mutex)
                    sleepers -= 1
                }
            }
            joined += 1
            drain()
        }
    }

    /// Polls `ready` (evaluated under the mutex, which the caller must not
    /// hold) for up to `nanoseconds`; whether it became true. Yields between
    /// polls: on a machine with more runnable threads than cores the thread
    /// being waited for may need this very core.
    private func poll(_ nanoseconds: Int, _ ready: () -> Bool) -> Bool {
        let deadline = WorkerPool.monotonicNanoseconds() + nanoseconds
        while true {
            lock()
            let done = ready()
            unlock()
            if done { return true }
            if WorkerPool.monotonicNanoseconds() >= deadline { return false }
            sched_yield()
        }
    }

    private static func monotonicNanoseconds() -> Int {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return t.tv_sec * 1_000_000_000 + t.tv_nsec
    }

    /// Starts workers until `n` exist. Called with the mutex held. A worker
    /// that cannot be created just leaves the caller with fewer helpers.
    private func startWorkers(upTo n: Int) {
        while started < n {
            #if canImport(Darwin)
            var thread: pthread_t? = nil  // a pointer type on Darwin, an integer on Linux
            #else
            var thread = pthread_t()
            #endif
            let context = Unmanaged.passUnretained(self).toOpaque()
            let rc = pthread_create(&thread, nil, { raw in
                let context: UnsafeMutableRawPointer? = raw  // optional on Linux, not on Darwin
                Unmanaged<WorkerPool>.fromOpaque(context!).takeUnretainedValue().workerLoop()
                return nil
            }, context)
            guard rc == 0 else { return }
            #if canImport(Darwin)
            if let thread { pthread_detach(thread) }
            #else
            pthread_detach(thread)
            #endif
            started += 1
        }
    }
}

/// Created on first use; lives for the life of the process.
@usableFromInline let pool = WorkerPool()
