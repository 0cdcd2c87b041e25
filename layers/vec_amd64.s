//go:build amd64 && !purego

#include "textflag.h"
#include "block16_amd64.h"

// func toInputs512(dst *uint8, src *float32, n int) int
//
// Converts float32 activations to 5-bit inputs sixteen at a time while
// every one of a block is an integer in 0..31 (the check of
// Kernel.quantizeInputs: truncate, convert back, compare, and the integer
// at most 31 unsigned); returns how many it converted, a multiple of 16
// unless it reached n. The caller checks the rest one by one.
TEXT ·toInputs512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	MOVL $31, DX
	VPBROADCASTD DX, Z31
loop:
	BLOCK16(done)
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VCVTTPS2DQ Z0, Z1
	VCVTDQ2PS Z1, Z2
	VCMPPS $0, Z2, Z0, K1, K2    // an integer (NaN is not)
	VPCMPUD $2, Z31, Z1, K2, K2  // and at most 31, unsigned
	KXORW K1, K2, K3
	KORTESTW K3, K3
	JNZ  done                    // some element of the block is not
	VPMOVDB Z1, K1, (DI)(AX*1)
	ADDQ $16, AX
	CMPQ AX, CX
	JLT  loop
	MOVQ CX, AX
done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func quantize512(dst *int8, src *float32, n int) int
//
// QuantizeWeight sixteen at a time while every weight of a block lies
// strictly within +-63.5 (then the result is in -63..63): |v| + 0.5 in
// float64 (exact), truncated, the sign put back. Returns how many it did,
// a multiple of 16 unless it reached n; the caller does the rest.
TEXT ·quantize512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ $0x7fffffffffffffff, DX
	VPBROADCASTQ DX, Z31         // |x| mask, float64
	MOVQ $0x3fe0000000000000, DX
	VPBROADCASTQ DX, Z30         // 0.5
	MOVL $0x427e0000, DX
	VPBROADCASTD DX, Z29         // 63.5f
	MOVL $0x7fffffff, DX
	VPBROADCASTD DX, Z28         // |x| mask, float32
	VPXORD Z27, Z27, Z27
	XORQ AX, AX
loop:
	BLOCK16(done)
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VPANDD Z28, Z0, Z1
	VCMPPS $1, Z29, Z1, K1, K2   // |v| < 63.5 (NaN is not)
	KXORW K1, K2, K3
	KORTESTW K3, K3
	JNZ  done
	VPMOVD2M Z0, K4              // negative (and -0)
	VCVTPS2PD Y0, Z2
	VEXTRACTF32X8 $1, Z0, Y3
	VCVTPS2PD Y3, Z3
	VANDPD Z31, Z2, Z2
	VANDPD Z31, Z3, Z3
	VADDPD Z30, Z2, Z2
	VADDPD Z30, Z3, Z3
	VCVTTPD2DQ Z2, Y2
	VCVTTPD2DQ Z3, Y3
	VINSERTI32X8 $1, Y3, Z2, Z2  // trunc(|v| + 0.5)
	VPSUBD Z2, Z27, K4, Z2       // negated where v is negative
	VPMOVDB Z2, K1, (DI)(AX*1)
	ADDQ $16, AX
	CMPQ AX, CX
	JLT  loop
	MOVQ CX, AX
done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// Float mode's elementwise loops, sixteen at a time, the last block under a
// mask. Go's min and max return NaN for a NaN operand: Intel's MINPS and
// MAXPS return their second operand when either is NaN, so the variable
// goes second (Go syntax: first).

// func clamp512(y *float32, n int)
//
// y = max(-128, min(127, y)): clampOut.
TEXT ·clamp512(SB), NOSPLIT, $0-16
	MOVQ y+0(FP), DI
	MOVQ n+8(FP), CX
	MOVL $0x42fe0000, DX
	VPBROADCASTD DX, Z31         // 127
	MOVL $0xc3000000, DX
	VPBROADCASTD DX, Z30         // -128
	XORQ AX, AX
cloop:
	BLOCK16(cdone)
	VMOVUPS.Z (DI)(AX*4), K1, Z0
	VMINPS Z0, Z31, Z0
	VMAXPS Z0, Z30, Z0
	VMOVUPS Z0, K1, (DI)(AX*4)
	ADDQ $16, AX
	JMP  cloop
cdone:
	VZEROUPPER
	RET

// func clampAdd512(tot, acc *float32, n int)
//
// tot += clampOut(acc).
TEXT ·clampAdd512(SB), NOSPLIT, $0-24
	MOVQ tot+0(FP), DI
	MOVQ acc+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL $0x42fe0000, DX
	VPBROADCASTD DX, Z31
	MOVL $0xc3000000, DX
	VPBROADCASTD DX, Z30
	XORQ AX, AX
aloop:
	BLOCK16(adone)
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VMINPS Z0, Z31, Z0
	VMAXPS Z0, Z30, Z0
	VMOVUPS.Z (DI)(AX*4), K1, Z1
	VADDPS Z0, Z1, Z1
	VMOVUPS Z1, K1, (DI)(AX*4)
	ADDQ $16, AX
	JMP  aloop
adone:
	VZEROUPPER
	RET

// func reluF512(dst, src *float32, n int, div float32)
//
// ConvertingReLU.Forward in float mode: min(31, max(0, min(127, v)) * div).
// max(0, v) must give +0 for -0 as Go's max does; MAXPS gives -0 back, and
// adding +0 turns it into +0 without changing anything else.
TEXT ·reluF512(SB), NOSPLIT, $0-28
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS div+24(FP), Z29
	MOVL $0x42fe0000, DX
	VPBROADCASTD DX, Z31         // 127
	MOVL $0x41f80000, DX
	VPBROADCASTD DX, Z28         // 31
	VPXORD Z30, Z30, Z30         // +0
	XORQ AX, AX
rloop:
	BLOCK16(rdone)
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VMINPS Z0, Z31, Z0
	VMAXPS Z0, Z30, Z0
	VADDPS Z30, Z0, Z0
	VMULPS Z29, Z0, Z0
	VMINPS Z0, Z28, Z0
	VMOVUPS Z0, K1, (DI)(AX*4)
	ADDQ $16, AX
	JMP  rloop
rdone:
	VZEROUPPER
	RET

// func reluGradF512(gin, grad, y *float32, n int, div float32)
//
// gin = g*div where y > 0 (ordered: not for NaN), +0 elsewhere.
TEXT ·reluGradF512(SB), NOSPLIT, $0-36
	MOVQ gin+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ y+16(FP), R8
	MOVQ n+24(FP), CX
	VBROADCASTSS div+32(FP), Z29
	VPXORD Z30, Z30, Z30
	XORQ AX, AX
gloop:
	BLOCK16(gdone)
	VMOVUPS.Z (R8)(AX*4), K1, Z0
	VCMPPS $0x1e, Z30, Z0, K1, K2  // y > 0
	VMOVUPS.Z (SI)(AX*4), K1, Z1
	VMULPS.Z Z29, Z1, K2, Z1
	VMOVUPS Z1, K1, (DI)(AX*4)
	ADDQ $16, AX
	JMP  gloop
gdone:
	VZEROUPPER
	RET
