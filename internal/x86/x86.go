package x86

// AVX2 is AVX2 with the YMM state enabled by the OS: the float32 product
// kernels (internal/sgemm).
var AVX2 bool

// AVX512 is AVX-512 F, DQ, BW and VL plus BMI1, BMI2, FMA and POPCNT
// (which every AVX-512 processor has), with the ZMM and mask
// state enabled by the OS: the noise generator and the digitisation loops
// of analogmac.
var AVX512 bool

// AVX512VBMI2 is AVX512 plus VBMI2 (VPCOMPRESSB, VPEXPANDB): the sparse
// input form of the chip protocol (internal/wirecodec).
var AVX512VBMI2 bool
