//go:build amd64 && !purego

#include "textflag.h"
#include "block16_amd64.h"

// func adam512(w, grad, mom, vel *float32, n int, c *[5]float32)
//
// Sixteen elements at a time (the last under a mask), each exactly as
// adamStep.Do's loop computes it, operation by operation in float32 with
// the square root in float64:
//   m = b1*m + (1-b1)*g
//   v = b2*v + ((1-b2)*g)*g
//   w = w - (lr*m) / (float32(sqrt(float64(v))) + eps)
// c holds b1, b2, lr, eps and a bound: when it is not 0, w is then clamped
// to +-bound as Analog.ClampWeights does, min first (a NaN stays NaN).
TEXT ·adam512(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ mom+16(FP), R8
	MOVQ vel+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), R10
	VBROADCASTSS 0(R10), Z20     // b1
	VBROADCASTSS 4(R10), Z21     // b2
	VBROADCASTSS 8(R10), Z22     // lr
	VBROADCASTSS 12(R10), Z23    // eps
	VBROADCASTSS 16(R10), Z27    // bound
	VXORPS Z28, Z28, Z28
	VSUBPS Z27, Z28, Z28         // -bound
	MOVL 16(R10), R11            // bound's bits: 0 for none
	MOVL $0x3f800000, AX
	VPBROADCASTD AX, Z24         // 1
	VSUBPS Z20, Z24, Z25         // 1-b1
	VSUBPS Z21, Z24, Z26         // 1-b2
	XORQ AX, AX

loop:
	BLOCK16(done)

	VMOVUPS.Z (SI)(AX*4), K1, Z0   // g
	VMOVUPS.Z (R8)(AX*4), K1, Z1   // m
	VMOVUPS.Z (R9)(AX*4), K1, Z2   // v
	VMOVUPS.Z (DI)(AX*4), K1, Z3   // w
	VMULPS Z20, Z1, Z1             // b1*m
	VMULPS Z25, Z0, Z4             // (1-b1)*g
	VADDPS Z4, Z1, Z1              // m
	VMULPS Z21, Z2, Z2             // b2*v
	VMULPS Z26, Z0, Z4             // (1-b2)*g
	VMULPS Z0, Z4, Z4              // ((1-b2)*g)*g
	VADDPS Z4, Z2, Z2              // v
	VCVTPS2PD Y2, Z5
	VEXTRACTF32X8 $1, Z2, Y6
	VCVTPS2PD Y6, Z6
	VSQRTPD Z5, Z5
	VSQRTPD Z6, Z6
	VCVTPD2PS Z5, Y5
	VCVTPD2PS Z6, Y6
	VINSERTF32X8 $1, Y6, Z5, Z5    // float32(sqrt(float64(v)))
	VADDPS Z23, Z5, Z5             // + eps
	VMULPS Z1, Z22, Z4             // lr*m
	VDIVPS Z5, Z4, Z4              // (lr*m) / (...)
	VSUBPS Z4, Z3, Z3              // w - ...
	TESTL R11, R11
	JZ   store
	VMINPS Z3, Z27, Z3             // min(bound, w): w if w is NaN
	VMAXPS Z3, Z28, Z3             // max(-bound, ...)
store:
	VMOVUPS Z1, K1, (R8)(AX*4)
	VMOVUPS Z2, K1, (R9)(AX*4)
	VMOVUPS Z3, K1, (DI)(AX*4)
	ADDQ $16, AX
	JMP  loop

done:
	VZEROUPPER
	RET
