//go:build amd64 && !purego

#include "textflag.h"

// Offsets in tileArgs (kernel_amd64.go; TestTileArgsLayout checks them).
#define T_A0 0
#define T_A1 8
#define T_A2 16
#define T_A3 24
#define T_C0 32
#define T_C1 40
#define T_C2 48
#define T_C3 56
#define T_B 64
#define T_LDB 72
#define T_LS 80
#define T_K 88
#define T_ALPHA 96
#define T_SCALE 100
#define T_MASK 104
#define T_ACC 136

// Registers of every kernel:
//   SI, R8, R9, R10  the four rows of op(a); DX the byte offset of step l in them
//   BX  row l of b;  R11 the stride of b;  R12 the step of a;  CX steps left
//   R13 the uint8 -> float32 table;  Y15 alpha;  Y14 the mask
//   Y8 a[r][l] broadcast;  Y9, Y10 b[l][j:j+16];  Y11, Y12 products
// Each product is rounded before it is added (VMULPS then VADDPS, never an
// FMA) and every accumulator runs over l in order: gonum's arithmetic.

#define SETUP \
	MOVQ t+0(FP), DI; \
	MOVQ T_A0(DI), SI; \
	MOVQ T_A1(DI), R8; \
	MOVQ T_A2(DI), R9; \
	MOVQ T_A3(DI), R10; \
	MOVQ T_B(DI), BX; \
	MOVQ T_LDB(DI), R11; \
	MOVQ T_LS(DI), R12; \
	MOVQ T_K(DI), CX; \
	LEAQ ·u8f32(SB), R13; \
	XORQ DX, DX; \
	VBROADCASTSS T_ALPHA(DI), Y15

// Broadcast a[r][l] into Y8: from float32, or from uint8 by table.
#define LOADF(p) \
	VBROADCASTSS (p)(DX*1), Y8

#define LOADU(p) \
	MOVBLZX (p)(DX*1), AX; \
	VBROADCASTSS (R13)(AX*4), Y8

#define SCALE \
	VMULPS Y15, Y8, Y8

#define NOSCALE

// 16 columns: two accumulators per row.
#define MAC16(acc0, acc1) \
	VMULPS Y9, Y8, Y11; \
	VADDPS Y11, acc0, acc0; \
	VMULPS Y10, Y8, Y12; \
	VADDPS Y12, acc1, acc1

#define STEP16(LOAD, SCL) \
	VMOVUPS (BX), Y9; \
	VMOVUPS 32(BX), Y10; \
	LOAD(SI); SCL; MAC16(Y0, Y1); \
	LOAD(R8); SCL; MAC16(Y2, Y3); \
	LOAD(R9); SCL; MAC16(Y4, Y5); \
	LOAD(R10); SCL; MAC16(Y6, Y7); \
	ADDQ R12, DX; \
	ADDQ R11, BX

#define STORE16 \
	MOVQ T_C0(DI), AX; \
	VMOVUPS Y0, (AX); \
	VMOVUPS Y1, 32(AX); \
	MOVQ T_C1(DI), AX; \
	VMOVUPS Y2, (AX); \
	VMOVUPS Y3, 32(AX); \
	MOVQ T_C2(DI), AX; \
	VMOVUPS Y4, (AX); \
	VMOVUPS Y5, 32(AX); \
	MOVQ T_C3(DI), AX; \
	VMOVUPS Y6, (AX); \
	VMOVUPS Y7, 32(AX)

#define LOAD16 \
	MOVQ T_C0(DI), AX; \
	VMOVUPS (AX), Y0; \
	VMOVUPS 32(AX), Y1; \
	MOVQ T_C1(DI), AX; \
	VMOVUPS (AX), Y2; \
	VMOVUPS 32(AX), Y3; \
	MOVQ T_C2(DI), AX; \
	VMOVUPS (AX), Y4; \
	VMOVUPS 32(AX), Y5; \
	MOVQ T_C3(DI), AX; \
	VMOVUPS (AX), Y6; \
	VMOVUPS 32(AX), Y7

#define ZERO16 \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7

// 8 masked columns: one accumulator per row.
#define MAC8(acc) \
	VMULPS Y9, Y8, Y11; \
	VADDPS Y11, acc, acc

#define STEP8(LOAD, SCL) \
	VMASKMOVPS (BX), Y14, Y9; \
	LOAD(SI); SCL; MAC8(Y0); \
	LOAD(R8); SCL; MAC8(Y1); \
	LOAD(R9); SCL; MAC8(Y2); \
	LOAD(R10); SCL; MAC8(Y3); \
	ADDQ R12, DX; \
	ADDQ R11, BX

#define STORE8 \
	MOVQ T_C0(DI), AX; \
	VMASKMOVPS Y0, Y14, (AX); \
	MOVQ T_C1(DI), AX; \
	VMASKMOVPS Y1, Y14, (AX); \
	MOVQ T_C2(DI), AX; \
	VMASKMOVPS Y2, Y14, (AX); \
	MOVQ T_C3(DI), AX; \
	VMASKMOVPS Y3, Y14, (AX)

#define LOAD8 \
	MOVQ T_C0(DI), AX; \
	VMASKMOVPS (AX), Y14, Y0; \
	MOVQ T_C1(DI), AX; \
	VMASKMOVPS (AX), Y14, Y1; \
	MOVQ T_C2(DI), AX; \
	VMASKMOVPS (AX), Y14, Y2; \
	MOVQ T_C3(DI), AX; \
	VMASKMOVPS (AX), Y14, Y3

#define ZERO8 \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3

// func k4x16f(t *tileArgs)
TEXT ·k4x16f(SB), NOSPLIT, $0-8
	SETUP
	MOVL  T_ACC(DI), AX
	TESTL AX, AX
	JNZ   f16load
	ZERO16
	JMP   f16go
f16load:
	LOAD16
f16go:
	TESTQ CX, CX
	JZ    f16done
	MOVL  T_SCALE(DI), AX
	TESTL AX, AX
	JNZ   f16scaled

f16plain:
	STEP16(LOADF, NOSCALE)
	DECQ CX
	JNZ  f16plain
	JMP  f16done

f16scaled:
	STEP16(LOADF, SCALE)
	DECQ CX
	JNZ  f16scaled

f16done:
	STORE16
	VZEROUPPER
	RET

// func k4x8mf(t *tileArgs)
TEXT ·k4x8mf(SB), NOSPLIT, $0-8
	SETUP
	VMOVDQU T_MASK(DI), Y14
	MOVL  T_ACC(DI), AX
	TESTL AX, AX
	JNZ   f8load
	ZERO8
	JMP   f8go
f8load:
	LOAD8
f8go:
	TESTQ CX, CX
	JZ    f8done
	MOVL  T_SCALE(DI), AX
	TESTL AX, AX
	JNZ   f8scaled

f8plain:
	STEP8(LOADF, NOSCALE)
	DECQ CX
	JNZ  f8plain
	JMP  f8done

f8scaled:
	STEP8(LOADF, SCALE)
	DECQ CX
	JNZ  f8scaled

f8done:
	STORE8
	VZEROUPPER
	RET

// func k4x16u(t *tileArgs)
TEXT ·k4x16u(SB), NOSPLIT, $0-8
	SETUP
	MOVL  T_ACC(DI), AX
	TESTL AX, AX
	JNZ   u16load
	ZERO16
	JMP   u16go
u16load:
	LOAD16
u16go:
	TESTQ CX, CX
	JZ    u16done
	MOVL  T_SCALE(DI), AX
	TESTL AX, AX
	JNZ   u16scaled

u16plain:
	STEP16(LOADU, NOSCALE)
	DECQ CX
	JNZ  u16plain
	JMP  u16done

u16scaled:
	STEP16(LOADU, SCALE)
	DECQ CX
	JNZ  u16scaled

u16done:
	STORE16
	VZEROUPPER
	RET

// func k4x8mu(t *tileArgs)
TEXT ·k4x8mu(SB), NOSPLIT, $0-8
	SETUP
	VMOVDQU T_MASK(DI), Y14
	MOVL  T_ACC(DI), AX
	TESTL AX, AX
	JNZ   u8load
	ZERO8
	JMP   u8go
u8load:
	LOAD8
u8go:
	TESTQ CX, CX
	JZ    u8done
	MOVL  T_SCALE(DI), AX
	TESTL AX, AX
	JNZ   u8scaled

u8plain:
	STEP8(LOADU, NOSCALE)
	DECQ CX
	JNZ  u8plain
	JMP  u8done

u8scaled:
	STEP8(LOADU, SCALE)
	DECQ CX
	JNZ  u8scaled

u8done:
	STORE8
	VZEROUPPER
	RET
