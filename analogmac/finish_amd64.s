//go:build amd64 && !purego

#include "textflag.h"

// Offsets in finishArgs (finish_amd64.go; TestFinishArgsLayout checks them).
#define F_ACC 0
#define F_NOISE 8
#define F_TOT 16
#define F_DST 24
#define F_SCALE 32
#define F_OFF 40
#define F_LIN 48
#define F_COLS 56
#define F_ROWS 64
#define F_NB 72
#define F_PLANE 80
#define F_K 88
#define F_STD 96
#define F_INVHEAD 104

// The digitisation of one chunk of batch rows, eight columns at a time,
// with the scalar loops' arithmetic in float64, operation by operation
// (no FMA, same association), so the outputs are the same bit for bit:
//
//   for each row: for each row block: for each column:
//     v = value(a, column)             // per device, see below
//     t = clamp(floor(v), -128, 127)   // clampOut(math.Floor(v))
//     tot[c] = (block 0 ? 0 : tot[c]) + t
//   dst row = tot clamped to int8 (stored with the last block: a masked
//   byte store; VPMOVSDB straight to memory is slow on some processors)
//
// Registers: DI args, SI the row's sums in block 0, BX in the current
// block, DX the noise (rows x blocks x columns, in that order), R8 tot,
// R9 the output row, R10-R12 the columns' scale, offset and linear range,
// R13 the column, R14 the block, CX the number of columns, AX scratch;
// K1 the columns of this group that exist.

DATA lowbits<>+0(SB)/4, $0xff
GLOBL lowbits<>(SB), RODATA|NOPTR, $4

#define CONSTS \
	MOVQ $0x7fffffffffffffff, AX; \
	VPBROADCASTQ AX, Z31; \
	MOVQ $0x8000000000000000, AX; \
	VPBROADCASTQ AX, Z30; \
	MOVQ $0x3ff0000000000000, AX; \
	VPBROADCASTQ AX, Z29; \
	MOVQ $0xc060000000000000, AX; \
	VPBROADCASTQ AX, Z26; \
	MOVQ $0x405fc00000000000, AX; \
	VPBROADCASTQ AX, Z25; \
	VBROADCASTSD F_INVHEAD(DI), Z28; \
	VBROADCASTSD F_STD(DI), Z27; \
	VBROADCASTSD F_K(DI), Z24

// MASK sets K1 to the columns R13.. R13+7 that are below CX.
#define MASK \
	MOVQ CX, AX; \
	SUBQ R13, AX; \
	CMPQ AX, $8; \
	JLT  2(PC); \
	MOVQ $8, AX; \
	BZHIL AX, lowbits<>(SB), AX; \
	KMOVB AX, K1

// Values: Z0 holds float64(a) on entry and v on exit.
#define IDEAL \
	VMULPD Z24, Z0, Z0

#define MOCK \
	VMULPD   Z24, Z0, Z0; \
	VMULPD.Z (DX)(R13*8), Z27, K1, Z1; \
	VADDPD   Z1, Z0, Z0

// CHIP is scale*a + off (+ std*noise with NOISE), then the column's
// saturation: for |v| > lin, sign(v) * (lin + d/(1 + d*invHead)) with
// d = |v| - lin, which equals saturate's two branches exactly (negation
// and the commuted additions are exact).
#define CHIPBASE \
	VMULPD.Z (R10)(R13*8), Z0, K1, Z0; \
	VADDPD.Z (R11)(R13*8), Z0, K1, Z0

#define NOISE \
	VMULPD.Z (DX)(R13*8), Z27, K1, Z1; \
	VADDPD   Z1, Z0, Z0

#define SATURATE \
	VANDPD   Z31, Z0, Z2; \
	VMOVUPD.Z (R12)(R13*8), K1, Z3; \
	VCMPPD   $0x1e, Z3, Z2, K1, K2; \
	KTESTB   K2, K2; \
	JZ       9(PC); \
	VSUBPD   Z3, Z2, Z4; \
	VMULPD   Z28, Z4, Z5; \
	VADDPD   Z29, Z5, Z5; \
	VDIVPD   Z5, Z4, Z5; \
	VADDPD   Z3, Z5, Z5; \
	VANDPD   Z30, Z0, Z6; \
	VORPD    Z6, Z5, Z5; \
	VMOVAPD  Z5, K2, Z0

#define CHIP CHIPBASE; NOISE; SATURATE
#define QUIETCHIP CHIPBASE; SATURATE

#define FINISH(VALUE) \
	MOVQ a+0(FP), DI; \
	CONSTS; \
	MOVQ F_ACC(DI), SI; \
	MOVQ F_NOISE(DI), DX; \
	MOVQ F_TOT(DI), R8; \
	MOVQ F_DST(DI), R9; \
	MOVQ F_SCALE(DI), R10; \
	MOVQ F_OFF(DI), R11; \
	MOVQ F_LIN(DI), R12; \
	MOVQ F_COLS(DI), CX; \
row: \
	MOVQ SI, BX; \
	XORQ R14, R14; \
block: \
	XORQ R13, R13; \
column: \
	MASK; \
	VMOVUPS.Z (BX)(R13*4), K1, Y0; \
	VCVTPS2PD Y0, Z0; \
	VALUE; \
	VRNDSCALEPD $9, Z0, Z0; \
	VMAXPD Z26, Z0, Z0; \
	VMINPD Z25, Z0, Z0; \
	VCVTTPD2DQ Z0, Y0; \
	TESTQ R14, R14; \
	JZ 2(PC); \
	VPADDD.Z (R8)(R13*4), Y0, K1, Y0; \
	LEAQ 1(R14), AX; \
	CMPQ AX, F_NB(DI); \
	JEQ last; \
	VMOVDQU32 Y0, K1, (R8)(R13*4); \
	JMP nextcol; \
last: \
	VPMOVSDB Y0, X0; \
	VMOVDQU8 X0, K1, (R9)(R13*1); \
nextcol: \
	ADDQ $8, R13; \
	CMPQ R13, CX; \
	JLT column; \
	LEAQ (DX)(CX*8), DX; \
	ADDQ F_PLANE(DI), BX; \
	INCQ R14; \
	CMPQ R14, F_NB(DI); \
	JLT block; \
	LEAQ (SI)(CX*4), SI; \
	ADDQ CX, R9; \
	DECQ F_ROWS(DI); \
	JNZ row; \
	VZEROUPPER; \
	RET

// func finishIdeal512(a *finishArgs)
TEXT ·finishIdeal512(SB), NOSPLIT, $0-8
	FINISH(IDEAL)

// func finishMock512(a *finishArgs)
TEXT ·finishMock512(SB), NOSPLIT, $0-8
	FINISH(MOCK)

// func finishChip512(a *finishArgs)
TEXT ·finishChip512(SB), NOSPLIT, $0-8
	FINISH(CHIP)

// func finishQuietChip512(a *finishArgs)
TEXT ·finishQuietChip512(SB), NOSPLIT, $0-8
	FINISH(QUIETCHIP)
