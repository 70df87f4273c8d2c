/* Stand-in libcublasLt.so: cublasLtMatmul launches one kernel through the runtime. */
#include "cuda.h"

cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t desc, const void *alpha, const void *A,
			      cublasLtMatrixLayout_t Adesc, const void *B, cublasLtMatrixLayout_t Bdesc,
			      const void *beta, const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
			      cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo, void *workspace,
			      size_t workspaceSize, cudaStream_t stream)
{
	dim3 one = {1, 1, 1};
	volatile cublasStatus_t r = cudaLaunchKernel(A, one, one, 0, 0, stream); /* volatile: not a tail call */
	return r;
}
