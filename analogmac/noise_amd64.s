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

// mix64's multipliers, for MIX64.
DATA mixmul<>+0(SB)/8, $0xbf58476d1ce4e5b9
DATA mixmul<>+8(SB)/8, $0x94d049bb133111eb
GLOBL mixmul<>(SB), RODATA|NOPTR, $16

// MIX64 turns a SplitMix64 counter z (already incremented by golden64)
// into its output, in place.
#define MIX64(z, tmp) \
	MOVQ z, tmp; \
	SHRQ $30, tmp; \
	XORQ tmp, z; \
	IMULQ mixmul<>+0(SB), z; \
	MOVQ z, tmp; \
	SHRQ $27, tmp; \
	XORQ tmp, z; \
	IMULQ mixmul<>+8(SB), z; \
	MOVQ z, tmp; \
	SHRQ $31, tmp; \
	XORQ tmp, z

// EXPAPPROX sets X5 to exp(X4) for X4 in [-7, 0] within a relative 1e-14:
// k = round(t/ln 2) (VROUNDSD for the polynomial, VCVTSD2SIQ beside it
// for the exponent, both to nearest even), r = t - k ln 2 in two parts,
// the degree-12 Taylor polynomial of r evaluated by Estrin's scheme with
// fused multiply-adds (a short dependency chain: the edge test waits on
// it), times 2^k. It uses X1-X6, X10-X18, R9 and R11. It only decides the
// edge test where the result is more than the margin (1e-12) away from y;
// closer calls go to math.Exp, so its rounding never shows in a number.
// Coefficients c_j = 1/j! are at 56 + 8(12-j).
#define EXPAPPROX \
	LEAQ noiseconst<>(SB), R9; \
	VMULSD 16(R9), X4, X1; \
	VCVTSD2SIQ X1, R11; \
	VROUNDSD $0, X1, X1, X2; \
	VFNMADD231SD 24(R9), X2, X4; \
	VFNMADD231SD 32(R9), X2, X4; \
	VMULSD X4, X4, X10; \
	VMULSD X10, X10, X11; \
	VMULSD X11, X11, X12; \
	VMOVSD 144(R9), X13; VFMADD213SD 152(R9), X4, X13; \
	VMOVSD 128(R9), X14; VFMADD213SD 136(R9), X4, X14; \
	VMOVSD 112(R9), X15; VFMADD213SD 120(R9), X4, X15; \
	VMOVSD 96(R9), X16; VFMADD213SD 104(R9), X4, X16; \
	VMOVSD 80(R9), X17; VFMADD213SD 88(R9), X4, X17; \
	VMOVSD 64(R9), X18; VFMADD213SD 72(R9), X4, X18; \
	VFMADD231SD X10, X14, X13; \
	VFMADD231SD X10, X16, X15; \
	VFMADD231SD X10, X18, X17; \
	VFMADD231SD X11, X15, X13; \
	VFMADD231SD 56(R9), X11, X17; \
	VFMADD231SD X12, X17, X13; \
	ADDQ $1023, R11; \
	SHLQ $52, R11; \
	VMOVQ R11, X6; \
	VMULSD X6, X13, X5

// func zigFast512(state *uint64, buf *float64, n int) int
//
// One pass over groups of eight draws, SplitMix64 being a counter (draw j
// is mix64(s + j*golden64)). For each: u, the fast path's result
// x = float64(int64(u>>11)) * zigScale[i] with the sign from bit 8
// (i = u & 255), and whether x < zigInner[i]. The tables are read as
// (scale, inner) pairs with scalar loads (gathers are slower here). A group
// whose eight draws are all fast, when eight outputs or more are still
// wanted, is stored as it is: nearly nine groups in ten. Any other group
// goes the slow way, in normal's order: a fast draw is an output; any
// other takes normal's edge test for a layer above the base right here:
// the next draw's uniform gives y = zigF[i] + uniform*(zigF[i+1]-zigF[i]),
// and the draw is an output if y < exp(-x*x/2); either way its next draw
// is consumed (for the last draw of a group, the next group's first: it
// is computed here in scalar code, and that group skips it). The edge
// tests depend on nothing but their two draws, so they overlap. The
// group's outputs are then packed with VCOMPRESSPD, up to the last one
// wanted. The function returns before a draw it leaves to normal (the
// base layer's tail, an edge test too close to call without math.Exp),
// having advanced the state past the draws its outputs took.
//
// The draws are computed three groups ahead of the group decided: the
// branch to the slow way then finds its operands ready instead of waiting
// some 50 cycles for the mix, the table loads and the comparison, and
// mispredicting it (one group in nine) costs far less. The groups drawn
// ahead are simply dropped when the function returns.
//
// Registers: SI buf, CX the outputs still wanted, AX those written, R8
// the state before the current group's first draw, BX 1 if that draw is
// consumed by the previous group's edge test, R10 zigPair, DX 8*golden64;
// Z22 the mix64 inputs of the next group to draw; the signed x and fast
// draws of the current group in Z5 and K3, of the three after it in Z9
// and K6, Z20 and K7, Z21 and K2. The slow way recomputes the current
// group's u and keeps its own state in registers (see there).
//
// Frame: xs (8 x float64, the signed x), us (8 x uint64, the u), then
// offs (8 x uint16, scratch).
#define XS 0
#define US 64
#define OFFS 128

// MIXV sets Z0 to the u of the draws whose mix64 inputs are in c (not
// Z0 or Z1, its scratch).
#define MIXV(c) \
	VPSRLQ  $30, c, Z1; \
	VPXORQ  Z1, c, Z0; \
	VPMULLQ Z29, Z0, Z0; \
	VPSRLQ  $27, Z0, Z1; \
	VPXORQ  Z1, Z0, Z0; \
	VPMULLQ Z28, Z0, Z0; \
	VPSRLQ  $31, Z0, Z1; \
	VPXORQ  Z1, Z0, Z0

// DRAW computes the group whose mix64 inputs are in Z22: its signed x in
// x and its fast draws in k (x < inner), through Z0-Z3, Z6, Z7 and R9.
// The tables are read as (scale, inner) pairs, the layer's byte offsets
// going through the frame.
#define DRAW(x, k) \
	MIXV(Z22); \
	VPANDQ  Z27, Z0, Z2; \
	VPSLLQ  $4, Z2, Z2; \
	VPMOVQW Z2, OFFS(SP); \
	MOVWQZX (OFFS+0)(SP), R9; \
	VMOVUPD (R10)(R9*1), X6; \
	MOVWQZX (OFFS+2)(SP), R9; \
	VINSERTF64X2 $1, (R10)(R9*1), Z6, Z6; \
	MOVWQZX (OFFS+4)(SP), R9; \
	VINSERTF64X2 $2, (R10)(R9*1), Z6, Z6; \
	MOVWQZX (OFFS+6)(SP), R9; \
	VINSERTF64X2 $3, (R10)(R9*1), Z6, Z6; \
	MOVWQZX (OFFS+8)(SP), R9; \
	VMOVUPD (R10)(R9*1), X7; \
	MOVWQZX (OFFS+10)(SP), R9; \
	VINSERTF64X2 $1, (R10)(R9*1), Z7, Z7; \
	MOVWQZX (OFFS+12)(SP), R9; \
	VINSERTF64X2 $2, (R10)(R9*1), Z7, Z7; \
	MOVWQZX (OFFS+14)(SP), R9; \
	VINSERTF64X2 $3, (R10)(R9*1), Z7, Z7; \
	VMOVDQU64 Z25, Z3; \
	VPERMI2PD Z7, Z6, Z3; \
	VPERMT2PD Z7, Z24, Z6; \
	VPSRLQ  $11, Z0, x; \
	VCVTQQ2PD x, x; \
	VMULPD  Z3, x, x; \
	VCMPPD  $1, Z6, x, k; \
	VPANDQ  Z26, Z0, Z1; \
	VPSLLQ  $55, Z1, Z1; \
	VPORQ   Z1, x, x

TEXT ·zigFast512(SB), $144-32
	MOVQ state+0(FP), DI
	MOVQ buf+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ (DI), R8                // s: the state before draw 0 of the group
	XORQ AX, AX                  // written
	XORQ BX, BX                  // no draw to skip
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
	MOVQ R9, DX                  // the same in a register
	VPBROADCASTQ R8, Z22
	VPADDQ  Z30, Z22, Z22        // mix64's inputs of draws 0..7, after its increment

	// The group three after the current one is drawn before the current
	// one is decided, so that the branch to the slow way does not wait for the
	// draws it depends on: a mispredicted branch costs less.
	DRAW(Z5, K3)                 // group 0
	VPADDQ  Z23, Z22, Z22
	DRAW(Z9, K6)                 // group 1
	VPADDQ  Z23, Z22, Z22
	DRAW(Z20, K7)                // group 2
	VPADDQ  Z23, Z22, Z22

group:
	TESTQ CX, CX
	JLE   done
	DRAW(Z21, K2)                // the group three after the current one
	VPADDQ  Z23, Z22, Z22        // the one after that
	KMOVB   K3, R9
	XORL    $0xff, R9            // draws off the fast path
	ORL     BX, R9               // or a first draw to skip
	JNZ     slow
	CMPQ    CX, $8
	JLT     slow
	VMOVUPD Z5, (SI)(AX*8)
	ADDQ    $8, AX
	SUBQ    $8, CX
	ADDQ    DX, R8
	VMOVAPD Z9, Z5
	VMOVAPD Z20, Z9
	VMOVAPD Z21, Z20
	KMOVB   K6, K3
	KMOVB   K7, K6
	KMOVB   K2, K7
	JMP     group

slow:
	// Registers: DI the fast draws, R13 the outputs, R14 the draws still
	// to test, R10 the draws usable, R12 bit 0 whether the group ends at a
	// draw left to normal, bit 1 whether the test of its last draw took
	// the next group's first; DI, R10 and DX are restored after.
	VMOVUPD   Z5, XS(SP)
	VPBROADCASTQ R8, Z2
	VPADDQ    Z30, Z2, Z2
	MIXV(Z2)                     // the group's u again
	VMOVDQU64 Z0, US(SP)
	KMOVB   K3, DI
	ANDNL   DI, BX, R13          // the fast draws, but a skipped one
	MOVL    DI, R14
	XORL    $0xff, R14
	ANDNL   R14, BX, R14         // the others, but a skipped one
	MOVL    $8, R10
	XORL    R12, R12

edges:
	TESTQ R14, R14
	JZ    emit
	TZCNTQ R14, DX               // draw j, off the fast path
	MOVQ  (US)(SP)(DX*8), BX
	ANDQ  $255, BX               // layer i
	JZ    punt                   // the base layer's tail: normal draws it
	LEAQ  1(DX), R9
	BTRQ  DX, R14
	BTRQ  R9, R14                // the next draw is consumed by the test
	BTRQ  R9, R13
	CMPQ  DX, $7
	JEQ   nextgroup
	MOVQ  (US+8)(SP)(DX*8), R9   // the next draw
	JMP   havenext
nextgroup:
	MOVQ  $0x9e3779b97f4a7c15, R9
	LEAQ  (R9)(R9*8), R9
	ADDQ  R8, R9                 // mix64's input of the next group's first draw
	MIX64(R9, R11)
havenext:
	SHRQ  $11, R9
	VCVTSI2SDQ R9, X7, X7
	LEAQ  noiseconst<>(SB), R9
	VMULSD 8(R9), X7, X7         // uniform
	LEAQ  ·zigF(SB), R9
	VMOVSD 8(R9)(BX*8), X8
	VSUBSD (R9)(BX*8), X8, X8    // zigF[i+1] - zigF[i]
	VMULSD X8, X7, X7
	VADDSD (R9)(BX*8), X7, X7    // y
	VMOVQ (XS)(SP)(DX*8), X0
	LEAQ  noiseconst<>(SB), R9
	VANDPD 48(R9), X0, X0        // x, unsigned
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
	CMPQ  DX, $7
	JNE   edges
	ORL   $2, R12                // the next group's first draw is taken
	JMP   edges

punt:
	ORL   $1, R12
	MOVQ  DX, R10                // the group ends before draw j
	BZHIQ DX, R13, R13

emit:
	VMOVUPD XS(SP), Z5           // the edge tests used Z5
	POPCNTL R13, R11
	CMPQ  R11, CX
	JGE   last
	KMOVB R13, K4
	VCOMPRESSPD Z5, K4, Z6
	MOVL  $0xff, R9
	BZHIL R11, R9, R9
	KMOVB R9, K5
	VMOVUPD Z6, K5, (SI)(AX*8)
	ADDQ  R11, AX
	SUBQ  R11, CX
	MOVQ  $0x9e3779b97f4a7c15, R9
	IMULQ R10, R9
	ADDQ  R9, R8                 // past the draws used
	TESTL $1, R12
	JNZ   done
	MOVL  R12, BX
	SHRL  $1, BX                 // the next group's first draw to skip
	LEAQ  ·zigPair(SB), R10
	MOVQ  $0x9e3779b97f4a7c15, DX
	SHLQ  $3, DX                 // eight draws ahead
	VMOVAPD Z9, Z5
	VMOVAPD Z20, Z9
	VMOVAPD Z21, Z20
	KMOVB   K6, K3
	KMOVB   K7, K6
	KMOVB   K2, K7
	JMP   group

last:
	// The group holds the last output wanted, at bit t of R13: the CX-th.
	LEAQ  -1(CX), R11
	MOVL  $1, BX
	SHLXQ R11, BX, BX
	PDEPQ R13, BX, BX
	TZCNTQ BX, BX                // t
	LEAQ  1(BX), R11
	BZHIL R11, R13, R9           // the outputs up to it
	KMOVB R9, K4
	VCOMPRESSPD Z5, K4, Z6
	MOVL  $0xff, R9
	BZHIL CX, R9, R9
	KMOVB R9, K5
	VMOVUPD Z6, K5, (SI)(AX*8)
	ADDQ  CX, AX
	SHRXQ BX, DI, R9
	NOTQ  R9
	ANDQ  $1, R9                 // 1 if it passed an edge test: its next draw is consumed
	LEAQ  1(BX)(R9*1), R9        // the draws used
	MOVQ  $0x9e3779b97f4a7c15, R11
	IMULQ R11, R9
	ADDQ  R9, R8

done:
	MOVQ state+0(FP), DI
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
