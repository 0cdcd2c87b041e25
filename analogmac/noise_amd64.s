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
// k = round(t/ln 2), r = t - k ln 2 in two parts, the degree-12 Taylor
// polynomial of r evaluated by Estrin's scheme (a short dependency chain:
// the edge test waits on it), times 2^k. It only decides the edge test
// where the result is more than the margin (1e-12) away from y; closer
// calls go to math.Exp. Coefficients c_j = 1/j! are at 56 + 8(12-j).
#define EXPAPPROX \
	LEAQ noiseconst<>(SB), R9; \
	VMULSD 16(R9), X4, X1; \
	VCVTSD2SIQ X1, R11; \
	VCVTSI2SDQ R11, X2, X2; \
	VMULSD 24(R9), X2, X3; \
	VSUBSD X3, X4, X4; \
	VMULSD 32(R9), X2, X3; \
	VSUBSD X3, X4, X4; \
	VMULSD X4, X4, X10; \
	VMULSD X10, X10, X11; \
	VMULSD X11, X11, X12; \
	VMULSD 144(R9), X4, X13; VADDSD 152(R9), X13, X13; \
	VMULSD 128(R9), X4, X14; VADDSD 136(R9), X14, X14; \
	VMULSD 112(R9), X4, X15; VADDSD 120(R9), X15, X15; \
	VMULSD 96(R9), X4, X16; VADDSD 104(R9), X16, X16; \
	VMULSD 80(R9), X4, X17; VADDSD 88(R9), X17, X17; \
	VMULSD 64(R9), X4, X18; VADDSD 72(R9), X18, X18; \
	VMULSD X10, X14, X14; VADDSD X14, X13, X13; \
	VMULSD X10, X16, X16; VADDSD X16, X15, X15; \
	VMULSD X10, X18, X18; VADDSD X18, X17, X17; \
	VMULSD X11, X15, X15; VADDSD X15, X13, X13; \
	VMULSD 56(R9), X11, X19; VADDSD X19, X17, X17; \
	VMULSD X12, X17, X17; VADDSD X17, X13, X5; \
	ADDQ $1023, R11; \
	SHLQ $52, R11; \
	VMOVQ R11, X6; \
	VMULSD X6, X5, X5

// func zigFast512(state *uint64, buf *float64, n int) int
//
// Batches of up to 64 draws, in three steps. The first computes them eight
// at a time, SplitMix64 being a counter (draw j is mix64(s + j*golden64)):
// u, the fast path's result x = float64(int64(u>>11)) * zigScale[i] with
// the sign from bit 8 (i = u & 255), and whether x < zigInner[i]. The
// tables are read as (scale, inner) pairs with scalar loads (gathers are
// slower here). The second decides which draws are outputs, as normal
// would take them in order: a fast draw is one; any other takes normal's
// edge test for a layer above the base right here: the next draw's uniform
// gives y = zigF[i] + uniform*(zigF[i+1]-zigF[i]), and the draw is an
// output if y < exp(-x*x/2); either way its next draw is consumed. The
// batch ends before a draw left to normal (the base layer's tail, an edge
// test too close to call without math.Exp), where the function returns,
// and before an edge test whose next draw is not in the batch. The third
// writes the outputs, eight draws at a time packed with VCOMPRESSPD, up to
// the last one wanted, and advances the state past the draws they took.
//
// A batch computes only as many groups of eight as the outputs still
// wanted need, with one group to spare for edge tests: the noise of a
// chunk is often only 160 draws.
//
// Frame: xs (64 x float64, the signed x), us (64 x uint64, the u), offs
// (8 x uint16, scratch), the fast draws' bits, the batch's length in
// draws, then whether the batch ended at a draw left to normal.
#define XS 0
#define US 512
#define OFFS 1024
#define FLAGS 1040
#define LEN 1048
#define PUNT 1056

TEXT ·zigFast512(SB), $1064-32
	MOVQ state+0(FP), DI
	MOVQ buf+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ (DI), R8                // s: the state before draw 0 of the batch
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
	MOVQ $8, R9
	IMULQ R12, R9
	VPBROADCASTQ R9, Z23         // eight draws ahead

batch:
	TESTQ CX, CX
	JLE   done
	// Pass 1: draws 0..LEN-1 of the batch, LEN = 8*min(8, (CX+16)/8).
	LEAQ    16(CX), R9
	SHRQ    $3, R9
	MOVQ    $8, R11
	CMPQ    R9, R11
	CMOVQGT R11, R9
	SHLQ    $3, R9
	MOVQ    R9, LEN(SP)
	VPBROADCASTQ R8, Z22
	VPADDQ  Z30, Z22, Z22        // mix64's inputs of draws 0..7, after its increment
	XORQ    DX, DX               // group
	XORQ    BX, BX               // flags
group:
	VPSRLQ  $30, Z22, Z1
	VPXORQ  Z1, Z22, Z0
	VPMULLQ Z29, Z0, Z0
	VPSRLQ  $27, Z0, Z1
	VPXORQ  Z1, Z0, Z0
	VPMULLQ Z28, Z0, Z0
	VPSRLQ  $31, Z0, Z1
	VPXORQ  Z1, Z0, Z0           // u
	VMOVDQU64 Z0, (US)(SP)(DX*8)
	VPANDQ  Z27, Z0, Z2          // layer
	VPSLLQ  $4, Z2, Z2           // byte offset of its (scale, inner) pair
	VPMOVQW Z2, OFFS(SP)
	MOVWQZX (OFFS+0)(SP), R9
	VMOVUPD (R10)(R9*1), X6
	MOVWQZX (OFFS+2)(SP), R9
	VINSERTF64X2 $1, (R10)(R9*1), Z6, Z6
	MOVWQZX (OFFS+4)(SP), R9
	VINSERTF64X2 $2, (R10)(R9*1), Z6, Z6
	MOVWQZX (OFFS+6)(SP), R9
	VINSERTF64X2 $3, (R10)(R9*1), Z6, Z6
	MOVWQZX (OFFS+8)(SP), R9
	VMOVUPD (R10)(R9*1), X7
	MOVWQZX (OFFS+10)(SP), R9
	VINSERTF64X2 $1, (R10)(R9*1), Z7, Z7
	MOVWQZX (OFFS+12)(SP), R9
	VINSERTF64X2 $2, (R10)(R9*1), Z7, Z7
	MOVWQZX (OFFS+14)(SP), R9
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
	VMOVUPD Z5, (XS)(SP)(DX*8)
	KMOVB   K3, R9
	SHLXQ   DX, R9, R9
	ORQ     R9, BX
	VPADDQ  Z23, Z22, Z22
	ADDQ    $8, DX
	CMPQ    DX, LEN(SP)
	JLT     group
	MOVQ    BX, FLAGS(SP)

	// Pass 2: which draws are outputs. R13 (the outputs) starts as the
	// fast draws, BX as the others among the LEN, R14 is how many draws
	// the batch can use. The others are taken in order: each is an edge
	// test, which consumes the next draw (not an output, not a test) and
	// is an output if accepted. The tests depend on nothing but their two
	// draws, so they overlap with each other and with the emission.
	MOVQ  FLAGS(SP), R13
	MOVQ  LEN(SP), R14
	MOVQ  R13, BX
	NOTQ  BX
	BZHIQ R14, BX, BX
	MOVQ  $0, PUNT(SP)
edges:
	TESTQ BX, BX
	JZ    emit
	TZCNTQ BX, DX                // draw j, off the fast path
	LEAQ  1(DX), R9
	CMPQ  R9, R14
	JGE   cut                    // its next draw is in the next batch
	MOVQ  (US)(SP)(DX*8), R11
	ANDQ  $255, R11              // layer i
	JZ    punt                   // the base layer's tail: normal draws it
	BTRQ  DX, BX
	BTRQ  R9, BX                 // the next draw is consumed by the test
	BTRQ  R9, R13
	MOVQ  (XS)(SP)(DX*8), X0
	VANDPD noiseconst<>+48(SB), X0, X0 // x, unsigned
	MOVQ  (US+8)(SP)(DX*8), R9   // the next draw
	SHRQ  $11, R9
	VCVTSI2SDQ R9, X7, X7
	LEAQ  noiseconst<>(SB), R9
	VMULSD 8(R9), X7, X7         // uniform
	LEAQ  ·zigF(SB), R9
	VMOVSD 8(R9)(R11*8), X8
	VSUBSD (R9)(R11*8), X8, X8   // zigF[i+1] - zigF[i]
	VMULSD X8, X7, X7
	VADDSD (R9)(R11*8), X7, X7   // y
	LEAQ  noiseconst<>(SB), R9
	VMULSD (R9), X0, X4
	VMULSD X0, X4, X4            // (-0.5*x)*x
	EXPAPPROX                    // X5 ~ exp
	LEAQ  noiseconst<>(SB), R9
	VSUBSD X5, X7, X1            // y - e
	VANDPD 48(R9), X1, X1        // |y - e|
	VMULSD 40(R9), X5, X2        // margin * e
	VUCOMISD X2, X1
	JBE   punt                   // too close to call: normal decides with math.Exp
	// Without a branch on the outcome (a coin toss): bit j of the outputs
	// is set if y < e.
	VUCOMISD X5, X7              // CF: y < e
	SBBQ  R9, R9                 // -1 if accepted, else 0
	ANDQ  $1, R9
	SHLXQ DX, R9, R9
	ORQ   R9, R13
	JMP   edges

punt:
	MOVQ  $1, PUNT(SP)
cut:
	MOVQ  DX, R14                // the batch ends before draw j
	BZHIQ DX, R13, R13

	// Emit the outputs of each group of eight, packed, until CX are written.
emit:
	XORQ  DX, DX
emitgroup:
	CMPQ  DX, R14
	JGE   used
	SHRXQ DX, R13, R9
	ANDL  $0xff, R9              // the group's outputs
	POPCNTL R9, R11
	CMPQ  R11, CX
	JGE   last
	KMOVB R9, K4
	VMOVUPD (XS)(SP)(DX*8), Z5
	VCOMPRESSPD Z5, K4, Z6
	MOVL  $0xff, R9
	BZHIL R11, R9, R9
	KMOVB R9, K5
	VMOVUPD Z6, K5, (SI)(AX*8)
	ADDQ  R11, AX
	SUBQ  R11, CX
	ADDQ  $8, DX
	JMP   emitgroup

last:
	// The group holds the last output wanted, at bit t of R9: the CX-th.
	LEAQ  -1(CX), R11
	MOVL  $1, BX
	SHLXQ R11, BX, BX
	PDEPQ R9, BX, BX
	TZCNTQ BX, BX                // t
	LEAQ  1(BX), R11
	BZHIL R11, R9, R9            // the outputs up to it
	KMOVB R9, K4
	VMOVUPD (XS)(SP)(DX*8), Z5
	VCOMPRESSPD Z5, K4, Z6
	MOVL  $0xff, R9
	BZHIL CX, R9, R9
	KMOVB R9, K5
	VMOVUPD Z6, K5, (SI)(AX*8)
	ADDQ  CX, AX
	XORQ  CX, CX
	ADDQ  BX, DX                 // its draw j
	MOVQ  FLAGS(SP), R9
	SHRXQ DX, R9, R9
	NOTQ  R9
	ANDQ  $1, R9                 // 1 if it passed an edge test: j+1 is consumed
	LEAQ  1(DX)(R9*1), DX
	JMP   finish

used:
	MOVQ  R14, DX
	CMPQ  PUNT(SP), $0
	JNE   finish

next:
	MOVQ  DX, R9
	IMULQ R12, R9
	ADDQ  R9, R8
	JMP   batch

finish:
	MOVQ  DX, R9
	IMULQ R12, R9
	ADDQ  R9, R8

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
