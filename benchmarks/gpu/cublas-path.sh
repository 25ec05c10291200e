# Sourced by the device scripts: puts a directory holding libcublas.so.13 on LD_LIBRARY_PATH — the toolkit's,
# or the one inside torch's NVIDIA wheels (the device machine has no system cuBLAS on the loader path).
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $(python3 - <<'PY' 2>/dev/null
import glob, os, site
for s in site.getsitepackages():
    for d in glob.glob(os.path.join(s, "nvidia", "*", "lib")) + glob.glob(os.path.join(s, "nvidia", "cublas", "lib")):
        print(d)
PY
); do
  if ls "$d"/libcublas.so.* >/dev/null 2>&1; then export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"; echo "cuBLAS from $d"; break; fi
done
