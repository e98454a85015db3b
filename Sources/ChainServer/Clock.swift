#if canImport(Glibc)
import Glibc
#endif

/// Monotonic nanoseconds, for latency measurement only (protocol logic never reads a clock).
@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
