/* bert-gemms-ab THREADS ROUNDS LIB...: MiniLM batch-1's GEMM sequence (6 layers: q k v o 384x384, ffn 1536x384, 384x1536; x W^T,
 * 128 rows), each layer's weights its own (42 MB in all: from memory, as in a forward), libraries alternated in one process */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
typedef int32_t (*gemm_fn)(int32_t, int32_t, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t, float, float *, int64_t);
typedef void (*thr)(int32_t);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){ int th=atoi(argv[1]), rounds=atoi(argv[2]), L=argc-3;
  int64_t T=128, D=384, F=1536; float *w[6][6]; int64_t wn[6]={D,D,D,D,F,D}, wk[6]={D,D,D,D,D,F};
  for(int l=0;l<6;l++) for(int j=0;j<6;j++){ w[l][j]=aligned_alloc(64,wn[j]*wk[j]*4); for(int64_t i=0;i<wn[j]*wk[j];i++) w[l][j][i]=(i%13)*0.01f; }
  float *x=aligned_alloc(64,T*F*4),*y=aligned_alloc(64,T*F*4); for(int64_t i=0;i<T*F;i++)x[i]=(i%7)*0.1f;
  gemm_fn g[16]; double *t=calloc(L*rounds,sizeof(double));
  for(int l=0;l<L;l++){char c[300];snprintf(c,300,"cp %s /tmp/bert-gemms-ab-%d-%d.so",argv[3+l],getpid(),l);system(c);snprintf(c,300,"/tmp/bert-gemms-ab-%d-%d.so",getpid(),l);void*h=dlopen(c,RTLD_NOW|RTLD_LOCAL);remove(c);g[l]=dlsym(h,"t4j_gemm");((thr)dlsym(h,"t4j_set_num_threads"))(th);}
  for(int r=0;r<rounds;r++) for(int l=0;l<L;l++){ usleep(2000); double t0=now();
    for(int layer=0;layer<6;layer++) for(int j=0;j<6;j++) g[l](0,1,T,wn[j],wk[j],1.0f,x,wk[j],w[layer][j],wk[j],0.0f,y,wn[j]);
    t[l*rounds+r]=now()-t0; }
  for(int l=0;l<L;l++){ qsort(t+l*rounds,rounds,sizeof(double),cmpd); printf("%-22s threads %d: median %.3f ms (min %.3f)\n",argv[3+l],th,t[l*rounds+rounds/2]*1e3,t[l*rounds]*1e3);} }
