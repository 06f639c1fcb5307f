/// What this build of the kernels was compiled for.
public enum SoftmaxKitBuild {
    /// The x86-64 instruction-set level the kernels were compiled for:
    /// "avx512" (AVX-512 F/BW/CD/DQ/VL with FMA, 512-bit vectors), "avx2"
    /// (AVX2, 256-bit vectors), "sse2" (the x86-64 baseline, 256-bit vector
    /// code lowered to SSE2), or "generic" for a build the Makefile did not
    /// label (a plain `swift build`, or a CPU other than x86-64). The Makefile
    /// passes the level as a compile condition (SMK_CPU_AVX512, SMK_CPU_AVX2,
    /// SMK_CPU_SSE2). In libsoftmaxkit this is the CPU variant the dispatching
    /// library chose at load (`smk_cpu_path()`).
    public static var cpuPath: String {
        #if SMK_CPU_AVX512
        return "avx512"
        #elseif SMK_CPU_AVX2
        return "avx2"
        #elseif SMK_CPU_SSE2
        return "sse2"
        #else
        return "generic"
        #endif
    }
}
