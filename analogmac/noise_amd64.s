//go:build amd64 && !purego

#include "textflag.h"

// Constants of the ziggurat's edge test (see EXPAPPROX).
DATA noiseconst<>+0(SB)/8, $-0.5
DATA noiseconst<>+8(SB)/8, $0x1p-53
DATA noiseconst<>+16(SB)/8, $1.4426950408889634074    // log2(e)
DATA noiseconst<>+24(SB)/8, $0.693147180369123816490  // ln 2, high part (exact times small k)
DATA noiseconst<>+32(SB)/8, $1.90821492927058770002e-10 // ln 2, low part
DATA noiseconst<>+40(SB)/8, $1e-12                    // decision margin, relative
DATA noiseconst<>+48(SB)/8, $0x7fffffffffffffff       // |x| mask
// 1/j! for j = 12 down to 0: the Taylor polynomial of exp.
DATA noiseconst<>+56(SB)/8, $2.08767569878680989792e-9
DATA noiseconst<>+64(SB)/8, $2.50521083854417187751e-8
DATA noiseconst<>+72(SB)/8, $2.75573192239858906526e-7
DATA noiseconst<>+80(SB)/8, $2.75573192239858906526e-6
DATA noiseconst<>+88(SB)/8, $2.48015873015873015873e-5
DATA noiseconst<>+96(SB)/8, $1.98412698412698412698e-4
DATA noiseconst<>+104(SB)/8, $1.38888888888888888889e-3
DATA noiseconst<>+112(SB)/8, $8.33333333333333333333e-3
DATA noiseconst<>+120(SB)/8, $4.16666666666666666667e-2
DATA noiseconst<>+128(SB)/8, $1.66666666666666666667e-1
DATA noiseconst<>+136(SB)/8, $0.5
DATA noiseconst<>+144(SB)/8, $1.0
DATA noiseconst<>+152(SB)/8, $1.0
GLOBL noiseconst<>(SB), RODATA|NOPTR, $160

// Index vectors that split (scale, inner) pairs: even and odd elements of
// two zmm registers.
DATA pairidx<>+0(SB)/8, $0
DATA pairidx<>+8(SB)/8, $2
DATA pairidx<>+16(SB)/8, $4
DATA pairidx<>+24(SB)/8, $6
DATA pairidx<>+32(SB)/8, $8
DATA pairidx<>+40(SB)/8, $10
DATA pairidx<>+48(SB)/8, $12
DATA pairidx<>+56(SB)/8, $14
DATA pairidx<>+64(SB)/8, $1
DATA pairidx<>+72(SB)/8, $3
DATA pairidx<>+80(SB)/8, $5
DATA pairidx<>+88(SB)/8, $7
DATA pairidx<>+96(SB)/8, $9
DATA pairidx<>+104(SB)/8, $11
DATA pairidx<>+112(SB)/8, $13
DATA pairidx<>+120(SB)/8, $15
GLOBL pairidx<>(SB), RODATA|NOPTR, $128

// MIX64 turns a SplitMix64 counter z (already incremented by golden64)
// into its output, in place; R13 and R14 hold the two multipliers.
#define MIX64(z, tmp) \
	MOVQ z, tmp; \
	SHRQ $30, tmp; \
	XORQ tmp, z; \
	IMULQ R13, z; \
	MOVQ z, tmp; \
	SHRQ $27, tmp; \
	XORQ tmp, z; \
	IMULQ R14, z; \
	MOVQ z, tmp; \
	SHRQ $31, tmp; \
	XORQ tmp, z

// EXPAPPROX sets X5 to exp(X4) for X4 in [-7, 0] within a relative 1e-14:
// k = round(t/ln 2), r = t - k ln 2 in two parts, a degree-12 Taylor
// polynomial of r, times 2^k. It only decides the edge test where the
// result is more than the margin (1e-12) away from y; closer calls go to
// math.Exp.
#define EXPAPPROX \
	LEAQ noiseconst<>(SB), R9; \
	VMULSD 16(R9), X4, X1; \
	VCVTSD2SIQ X1, R11; \
	VCVTSI2SDQ R11, X2, X2; \
	VMULSD 24(R9), X2, X3; \
	VSUBSD X3, X4, X4; \
	VMULSD 32(R9), X2, X3; \
	VSUBSD X3, X4, X4; \
	VMOVSD 56(R9), X5; \
	VMULSD X4, X5, X5; VADDSD 64(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 72(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 80(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 88(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 96(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 104(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 112(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 120(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 128(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 136(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 144(R9), X5, X5; \
	VMULSD X4, X5, X5; VADDSD 152(R9), X5, X5; \
	ADDQ $1023, R11; \
	SHLQ $52, R11; \
	VMOVQ R11, X6; \
	VMULSD X6, X5, X5

// func zigFast512(state *uint64, buf *float64, n int) int
//
// Lane j of a group computes draw j of the stream, SplitMix64 being a
// counter: u = mix64(s + j*golden64). The fast path of normal, per lane:
// layer i = u & 255, x = float64(int64(u>>11)) * zigScale[i], accepted if
// x < zigInner[i], sign from bit 8. The tables are read as (scale, inner)
// pairs with scalar loads (gathers are slower here). A group whose wanted
// lanes are all accepted is stored whole; otherwise the lanes before the
// first rejected one are stored and that draw takes normal's edge test
// right here, for a layer above the base: the next draw's uniform gives
// y = zigF[i] + uniform*(zigF[i+1]-zigF[i]), and the draw is x if
// y < exp(-x*x/2), else the output is drawn again; both consume two draws.
// The function returns, leaving the draw to normal, for the base layer's
// tail and when y is too close to exp(-x*x/2) for EXPAPPROX to decide.
TEXT ·zigFast512(SB), NOSPLIT, $16-32
	MOVQ state+0(FP), DI
	MOVQ buf+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ (DI), R8                // s
	XORQ AX, AX                  // written
	LEAQ ·zigPair(SB), R10
	MOVQ $0x9e3779b97f4a7c15, R12
	MOVQ $0xbf58476d1ce4e5b9, R13
	MOVQ $0x94d049bb133111eb, R14
	VMOVDQU64 ·zigSteps(SB), Z30
	VPBROADCASTQ R13, Z29
	VPBROADCASTQ R14, Z28
	MOVQ $255, R9
	VPBROADCASTQ R9, Z27
	MOVQ $256, R9
	VPBROADCASTQ R9, Z26
	VMOVDQU64 pairidx<>+0(SB), Z25
	VMOVDQU64 pairidx<>+64(SB), Z24

loop:
	TESTQ CX, CX
	JLE   done
	VPBROADCASTQ R8, Z0
	VPADDQ  Z30, Z0, Z0          // mix64's input after its increment
	VPSRLQ  $30, Z0, Z1
	VPXORQ  Z1, Z0, Z0
	VPMULLQ Z29, Z0, Z0
	VPSRLQ  $27, Z0, Z1
	VPXORQ  Z1, Z0, Z0
	VPMULLQ Z28, Z0, Z0
	VPSRLQ  $31, Z0, Z1
	VPXORQ  Z1, Z0, Z0           // u
	VPANDQ  Z27, Z0, Z2          // layer
	VPSLLQ  $4, Z2, Z2           // byte offset of its (scale, inner) pair
	VPMOVQW Z2, off-16(SP)       // eight 16-bit offsets
	MOVWQZX off-16(SP), R9
	VMOVUPD (R10)(R9*1), X6
	MOVWQZX off-14(SP), R9
	VINSERTF64X2 $1, (R10)(R9*1), Z6, Z6
	MOVWQZX off-12(SP), R9
	VINSERTF64X2 $2, (R10)(R9*1), Z6, Z6
	MOVWQZX off-10(SP), R9
	VINSERTF64X2 $3, (R10)(R9*1), Z6, Z6
	MOVWQZX off-8(SP), R9
	VMOVUPD (R10)(R9*1), X7
	MOVWQZX off-6(SP), R9
	VINSERTF64X2 $1, (R10)(R9*1), Z7, Z7
	MOVWQZX off-4(SP), R9
	VINSERTF64X2 $2, (R10)(R9*1), Z7, Z7
	MOVWQZX off-2(SP), R9
	VINSERTF64X2 $3, (R10)(R9*1), Z7, Z7
	VMOVDQU64 Z25, Z3
	VPERMI2PD Z7, Z6, Z3         // scales
	VMOVDQU64 Z24, Z4
	VPERMI2PD Z7, Z6, Z4         // inner edges
	VPSRLQ  $11, Z0, Z5
	VCVTQQ2PD Z5, Z5             // exact: 53 bits
	VMULPD  Z3, Z5, Z5           // x
	VCMPPD  $1, Z4, Z5, K3       // x < inner: fast path
	VPANDQ  Z26, Z0, Z1
	VPSLLQ  $55, Z1, Z1
	VPORQ   Z1, Z5, Z5           // bit 8 of u becomes the sign
	MOVQ    $8, R9
	CMPQ    CX, R9
	CMOVQLT CX, R9               // lanes wanted
	MOVL    $0xff, DX
	BZHIL   R9, DX, DX           // their mask
	KMOVB   K3, BX
	NOTL    BX
	ANDL    DX, BX               // wanted lanes off the fast path
	JNZ     partial
	KMOVB   DX, K4
	VMOVUPD Z5, K4, (SI)(AX*8)
	ADDQ    R9, AX
	SUBQ    R9, CX
	IMULQ   R12, R9
	ADDQ    R9, R8
	JMP     loop

partial:
	TZCNTL  BX, BX               // the first rejected lane
	MOVL    $0xff, DX
	BZHIL   BX, DX, DX
	KMOVB   DX, K4
	VMOVUPD Z5, K4, (SI)(AX*8)
	ADDQ    BX, AX
	SUBQ    BX, CX
	IMULQ   R12, BX
	ADDQ    BX, R8               // s: the rejected draw is next

	// The edge test, in scalar code: the draw again...
	MOVQ    R8, DX
	ADDQ    R12, DX
	MIX64(DX, R9)                // u
	MOVQ    DX, BX
	ANDQ    $255, BX             // layer i
	JZ      done                 // the base layer's tail: normal draws it
	MOVQ    DX, u-8(SP)
	SHRQ    $11, DX
	VCVTSI2SDQ DX, X0, X0
	MOVQ    BX, R9
	SHLQ    $4, R9
	VMULSD  (R10)(R9*1), X0, X0  // x = float64(u>>11) * zigScale[i]
	// ...the next draw's uniform...
	MOVQ    R8, DX
	ADDQ    R12, DX
	ADDQ    R12, DX
	MIX64(DX, R9)
	SHRQ    $11, DX
	VCVTSI2SDQ DX, X7, X7
	LEAQ    noiseconst<>(SB), R9
	VMULSD  8(R9), X7, X7        // uniform
	LEAQ    ·zigF(SB), R9
	VMOVSD  8(R9)(BX*8), X8
	VSUBSD  (R9)(BX*8), X8, X8   // zigF[i+1] - zigF[i]
	VMULSD  X8, X7, X7
	VADDSD  (R9)(BX*8), X7, X7   // y
	// ...against exp(-0.5*x*x).
	LEAQ    noiseconst<>(SB), R9
	VMULSD  (R9), X0, X4
	VMULSD  X0, X4, X4           // (-0.5*x)*x
	EXPAPPROX                    // X5 ~ exp
	LEAQ    noiseconst<>(SB), R9
	VSUBSD  X5, X7, X1           // y - e
	VANDPD  48(R9), X1, X1       // |y - e|
	VMULSD  40(R9), X5, X2       // margin * e
	VUCOMISD X2, X1
	JBE     done                 // too close to call: normal decides with math.Exp
	MOVQ    R12, DX
	SHLQ    $1, DX
	ADDQ    DX, R8               // two draws consumed either way
	VUCOMISD X5, X7
	JAE     loop                 // y >= e: rejected, draw this output again
	MOVQ    u-8(SP), DX
	ANDQ    $256, DX
	SHLQ    $55, DX
	VMOVQ   X0, R9
	ORQ     DX, R9               // the sign from bit 8
	MOVQ    R9, (SI)(AX*8)
	INCQ    AX
	DECQ    CX
	JMP     loop

done:
	MOVQ R8, (DI)
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func expApprox(t float64) float64: EXPAPPROX, for its test.
TEXT ·expApprox(SB), NOSPLIT, $0-16
	MOVSD t+0(FP), X4
	EXPAPPROX
	MOVSD X5, ret+8(FP)
	RET
