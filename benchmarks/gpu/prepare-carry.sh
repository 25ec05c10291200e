#!/usr/bin/env bash
# Prepares .carry/ (ignored) for the Java part of benchmarks/gpu/run-device.sh on the GPU machine, which has
# no JDK and no network: a jlinked Java runtime, the module jars (native's with the kernel library and the
# JNI glue inside), their dependencies, the native module's test classes and the JUnit console launcher,
# plus .carry/run-java-tests.sh (ST_CARRY=jmh: JMH and .carry/run-jmh.sh instead of the JUnit console). Prints the
# size of what will travel (limit: 64 MiB for the whole tree).
# Needs: cuda-kernels/scripts/setup-nvcc.sh run once (so the jar holds the CUDA backend), JDK 17 jlink.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
JUNIT_CONSOLE=org.junit.platform:junit-platform-console-standalone:1.14.1
rm -rf .carry
mkdir -p .carry/lib .carry/console
cuda-kernels/scripts/build.sh   # so native's jni profile sees the library when Maven starts
mvn -B -o -q -pl native -am package dependency:copy-dependencies -DskipTests -Dmaven.javadoc.skip=true \
  -Dmaven.source.skip=true -DincludeScope=test -DoutputDirectory="$ROOT/.carry/lib"
unzip -l native/target/safetune-native-*[0-9T].jar | grep libjniSafeTuneKernels.so >/dev/null \
  || { echo "native jar has no JNI library: was the kernel library built (nvcc)?" >&2; exit 1; }
cp native/target/safetune-native-*[0-9T].jar .carry/lib/
cp -r native/target/test-classes .carry/test-classes
# ST_CARRY=jmh: JMH (LoraStepBenchmark) instead of the JUnit console: the benchmarks module's classes (with JMH's
# generated benchmark list) and JMH's jars (the shaded benchmarks.jar, ONNX Runtime inside, is too large to travel;
# tests and JMH together are ~2 MiB over the 64 MiB a call carries)
if [[ "${ST_CARRY:-tests}" == jmh ]]; then
  mvn -B -o -q -pl benchmarks compile -Dmaven.javadoc.skip=true
  cp -r benchmarks/target/classes .carry/bench-classes
  for a in org.openjdk.jmh:jmh-core:1.37 net.sf.jopt-simple:jopt-simple:5.0.4 org.apache.commons:commons-math3:3.6.1; do
    mvn -B -o -q dependency:copy -Dartifact="$a" -DoutputDirectory="$ROOT/.carry/lib"
  done
fi
# the console launcher bundles the JUnit platform and Jupiter: drop the separate JUnit jars; byte-buddy
# (9 MB, only for AssertJ soft assertions) would push the tree over the 64 MiB the device tool carries
rm -f .carry/lib/byte-buddy-*.jar .carry/lib/junit-*.jar .carry/lib/opentest4j-*.jar .carry/lib/apiguardian-*.jar .carry/lib/*.pom
# the evaluation stack (ONNX Runtime with its natives, Tribuo, JFreeChart) is not used by the GPU tests and
# alone would exceed the limit
rm -f .carry/lib/onnxruntime-*.jar .carry/lib/tribuo-*.jar .carry/lib/jfreechart-*.jar .carry/lib/org.jfree.*.jar \
  .carry/lib/protobuf-java-*.jar
# the tiny reference model and its LoRA case for CudaTrainingStepTest (../shared does not travel)
SHARED="${SAFETUNE_SHARED:-$ROOT/../shared}"
mkdir -p .carry/shared/models .carry/shared/reference
cp -r "$SHARED/models/tiny-llama" .carry/shared/models/
chmod -R u+w .carry/shared  # ../shared is read-only; the copies are edited below and on the device
# the tokenizer (3.4 MB, for CudaFineTunerTest) travels gzipped (0.6 MB); run-java-tests.sh unpacks it there
gzip -9f .carry/shared/models/tiny-llama/tokenizer.json
cp -r "$SHARED/reference/tiny_lora" .carry/shared/reference/
cp "$SHARED"/reference/tiny_logits.* .carry/shared/reference/  # CudaInferenceTest: 0.8 MB
[[ "${ST_CARRY:-tests}" == jmh ]] || mvn -B -q dependency:copy -Dartifact=$JUNIT_CONSOLE -DoutputDirectory="$ROOT/.carry/console"
JLINK="${JAVA_HOME:+$JAVA_HOME/bin/}jlink"
# java.desktop: Jinjava's EL resolver (chat templates, CudaFineTunerTest) needs java.beans. The runtime travels as
# one xz archive of an uncompressed image (17 MB; the image with jlink's own zip compression was 36 MB without
# java.desktop, 47 MB with it); unpack.sh restores it on the device (~2 s)
"$JLINK" --add-modules java.base,java.logging,java.xml,java.management,java.desktop,jdk.unsupported,jdk.incubator.vector,jdk.zipfs \
  --strip-debug --no-header-files --no-man-pages --output .carry/jre
strip --strip-unneeded .carry/jre/lib/server/libjvm.so
tar -C .carry -cJf .carry/jre.tar.xz jre && rm -rf .carry/jre
cat > .carry/unpack.sh <<'RUN'
#!/usr/bin/env bash
# Unpacks the carried Java runtime next to this script once (run from anywhere; idempotent).
C="$(cd "$(dirname "$0")" && pwd)"
[[ -x "$C/jre/bin/java" ]] || tar -C "$C" -xJf "$C/jre.tar.xz"
RUN
chmod +x .carry/unpack.sh
cat > .carry/run-java-tests.sh <<'RUN'
#!/usr/bin/env bash
# Runs the native module's tests (CudaBackendTest: every op vs the CPU backend) on the carried runtime.
cd "$(dirname "$0")/.."
bash .carry/unpack.sh
T=.carry/shared/models/tiny-llama/tokenizer.json
[[ -f $T.gz && ! -f $T ]] && gunzip -k "$T.gz"
CP="$(ls .carry/lib/*.jar | tr '\n' ':').carry/test-classes"
exec .carry/jre/bin/java --add-modules jdk.incubator.vector -Dsafetune.shared=.carry/shared \
  -jar .carry/console/junit-platform-console-standalone-*.jar execute --disable-banner --disable-ansi-colors --details=tree \
  --class-path "$CP" --select-package ai.safetune.cuda
RUN
chmod +x .carry/run-java-tests.sh
cat > .carry/run-jmh.sh <<'RUN'
#!/usr/bin/env bash
# JMH on the carried runtime, e.g. .carry/run-jmh.sh LoraStepBenchmark -p backend=cuda -p shape=llama-1b -p seq=512 -p precision=bf16
cd "$(dirname "$0")/.."
bash .carry/unpack.sh
CP="$(ls .carry/lib/*.jar | tr '\n' ':').carry/bench-classes"
exec .carry/jre/bin/java --add-modules jdk.incubator.vector -cp "$CP" org.openjdk.jmh.Main -jvm "$PWD/.carry/jre/bin/java" "$@"
RUN
chmod +x .carry/run-jmh.sh
du -sh .carry
echo "whole tree that travels: $(du -sh --exclude=.git --exclude=.tools --exclude=target . | cut -f1) (+ cuda-kernels/target/native if carried)"
