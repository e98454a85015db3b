#if canImport(Glibc)
import Glibc
#endif

/// Monotonic nanoseconds, for latency measurement only (protocol logic never reads a clock).
@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Wall-clock Unix milliseconds: key expiry only. The head stamps absolute expiry times with it;
/// readers compare them with their own (see Docs/ARCHITECTURE.md on clock skew).
@inline(__always) func wallMillis() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
}
