//go:build amd64 && !purego

#include "textflag.h"

// Offsets in tile8Args (kernel_amd64.go; TestTile8ArgsLayout checks them).
#define U_A 0
#define U_C 64
#define U_B 128
#define U_LDB 136
#define U_LS 144
#define U_K 152
#define U_ALPHA 160
#define U_SCALE 164
#define U_M1 168
#define U_M2 172
#define U_ACC 176

// The AVX-512 kernels compute an 8 x 32 block of c: two 16-lane
// accumulators per row, Z0-Z15, the columns beyond n masked off by K1 and
// K2 (masked loads read nothing there). The rows of op(a) are reached
// through their pointers in the arguments; DX is the byte offset of step
// l in them, BX row l of b, R12 the stride of b, R14 the step of a, CX the
// steps left, R13 the uint8 table. Z16, Z17: b[l][j:j+32]; Z18: a[r][l];
// Z19, Z20: products; Z21: alpha. Each product is rounded before it is
// added (VMULPS then VADDPS, never an FMA), accumulators run over l in
// order: gonum's arithmetic, as in the AVX2 kernels.

#define SETUP8 \
	MOVQ t+0(FP), DI; \
	MOVQ U_B(DI), BX; \
	MOVQ U_LDB(DI), R12; \
	MOVQ U_LS(DI), R14; \
	MOVQ U_K(DI), CX; \
	LEAQ ·u8f32(SB), R13; \
	XORQ DX, DX; \
	KMOVW U_M1(DI), K1; \
	KMOVW U_M2(DI), K2; \
	VBROADCASTSS U_ALPHA(DI), Z21

#define LOAD8F(r) \
	MOVQ (U_A+8*r)(DI), R11; \
	VBROADCASTSS (R11)(DX*1), Z18

#define LOAD8U(r) \
	MOVQ (U_A+8*r)(DI), R11; \
	MOVBLZX (R11)(DX*1), AX; \
	VBROADCASTSS (R13)(AX*4), Z18

#define SCALE8 \
	VMULPS Z21, Z18, Z18

#define NOSCALE8

#define MAC32(acc0, acc1) \
	VMULPS Z16, Z18, Z19; \
	VADDPS Z19, acc0, acc0; \
	VMULPS Z17, Z18, Z20; \
	VADDPS Z20, acc1, acc1

#define STEP32(LOAD, SCL) \
	VMOVUPS.Z (BX), K1, Z16; \
	VMOVUPS.Z 64(BX), K2, Z17; \
	LOAD(0); SCL; MAC32(Z0, Z1); \
	LOAD(1); SCL; MAC32(Z2, Z3); \
	LOAD(2); SCL; MAC32(Z4, Z5); \
	LOAD(3); SCL; MAC32(Z6, Z7); \
	LOAD(4); SCL; MAC32(Z8, Z9); \
	LOAD(5); SCL; MAC32(Z10, Z11); \
	LOAD(6); SCL; MAC32(Z12, Z13); \
	LOAD(7); SCL; MAC32(Z14, Z15); \
	ADDQ R14, DX; \
	ADDQ R12, BX

#define CROW(r, acc0, acc1, OP) \
	MOVQ (U_C+8*r)(DI), AX; \
	OP(acc0, acc1)

#define LOADC(acc0, acc1) \
	VMOVUPS.Z (AX), K1, acc0; \
	VMOVUPS.Z 64(AX), K2, acc1

#define STOREC(acc0, acc1) \
	VMOVUPS acc0, K1, (AX); \
	VMOVUPS acc1, K2, 64(AX)

#define ALLC(OP) \
	CROW(0, Z0, Z1, OP); \
	CROW(1, Z2, Z3, OP); \
	CROW(2, Z4, Z5, OP); \
	CROW(3, Z6, Z7, OP); \
	CROW(4, Z8, Z9, OP); \
	CROW(5, Z10, Z11, OP); \
	CROW(6, Z12, Z13, OP); \
	CROW(7, Z14, Z15, OP)

#define ZERO32 \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15

#define KERNEL(LOAD) \
	SETUP8; \
	MOVL  U_ACC(DI), AX; \
	TESTL AX, AX; \
	JNZ   load; \
	ZERO32; \
	JMP   start; \
load: \
	ALLC(LOADC); \
start: \
	TESTQ CX, CX; \
	JZ    done; \
	MOVL  U_SCALE(DI), AX; \
	TESTL AX, AX; \
	JNZ   scaled; \
plain: \
	STEP32(LOAD, NOSCALE8); \
	DECQ CX; \
	JNZ  plain; \
	JMP  done; \
scaled: \
	STEP32(LOAD, SCALE8); \
	DECQ CX; \
	JNZ  scaled; \
done: \
	ALLC(STOREC); \
	VZEROUPPER; \
	RET

// func k8x32f(t *tile8Args)
TEXT ·k8x32f(SB), NOSPLIT, $0-8
	KERNEL(LOAD8F)

// func k8x32u(t *tile8Args)
TEXT ·k8x32u(SB), NOSPLIT, $0-8
	KERNEL(LOAD8U)
