#!/usr/bin/env bash
# Fills .device/ for bench/gpu/check.sh, on this (CPU) machine: the runnable jar's classes (with
# libtune4j_cuda.so, so nvcc must be here; as tune4j-all.tar.xz), the core's test classes, the JUnit console launcher, JCuda, the
# kernels/dev variant programs, and a Java runtime (.device/jre.txz: a jlink image of the modules below, java.desktop
# among them, which the report's charts need, packed as tar.xz: 22 MB).
# Then: one device run of `bench/gpu/check.sh $OUT` with carry [".device"]. What travels, the working tree and
# .device together, may be 64 MiB at most: the last line checks both.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# JDK 25, as .ci/run picks it
JAVA_HOME="${JAVA_HOME:-}"
[ -x "$JAVA_HOME/bin/java" ] && "$JAVA_HOME/bin/java" -version 2>&1 | grep -q 'version "25' || export JAVA_HOME="$(ls -d /usr/lib/jvm/*25* | head -n 1)"
./mvnw -q -o -DskipTests install
unzip -Z1 bench/target/tune4j-all.jar | grep libtune4j_cuda.so >/dev/null || { echo "libtune4j_cuda.so is not in the jar: is nvcc installed?"; exit 1; }
./mvnw -q -o -pl java test-compile
mkdir -p .device
# The jar's classes and resources as one tar.xz (check.sh runs them from the unpacked folder): the jar itself (54 MB,
# natives of every platform) and the runtime would not fit the 64 MiB a device run carries. The tokenizers' natives
# of other platforms, JNA's natives but linux-x86-64's and JMH are left out, and the embedded data and model (8 MB, in
# the working tree that travels too: check.sh puts java/src/main/resources on the class path); xz on the unpacked
# classes is 0.6x the jar's own compression.
rm -f .device/tune4j-all.jar
explode="$(mktemp -d)"
(cd "$explode" && unzip -q "$root/bench/target/tune4j-all.jar" -x 'native/lib/linux-aarch64/*' 'native/lib/osx-*' 'native/lib/win-*' 'org/openjdk/jmh/*' 'META-INF/BenchmarkList' \
  'org/tune4j/data/fashion-mnist-subset/*' 'org/tune4j/data/spam-assassin-subset.*' 'org/tune4j/models/*' \
  'com/sun/jna/aix-*' 'com/sun/jna/darwin-*' 'com/sun/jna/*bsd-*' 'com/sun/jna/sunos-*' 'com/sun/jna/win32*' \
  'com/sun/jna/linux-[ablmprs]*' 'com/sun/jna/linux-x86/*')
tar cJf .device/tune4j-all.tar.xz -C "$explode" .
rm -rf "$explode"
rm -rf .device/test-classes && cp -r java/target/test-classes .device/test-classes
rm -rf .device/kernels-dev && kernels/dev/build.sh .device/kernels-dev && strip --strip-unneeded .device/kernels-dev/*
./mvnw -q -o dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1 -DoutputDirectory=.device
mv .device/junit-platform-console-standalone-*.jar .device/junit-console.jar
# JCuda for JCudaInteropTest: its jar, and of its natives only the driver binding (the rest is 24 MB);
# copied afresh, since a second run would find the natives already stripped and zip -d would fail
rm -f .device/jcuda-*.jar
./mvnw -q -o dependency:copy -Dartifact=org.jcuda:jcuda:12.6.0 -DoutputDirectory=.device
./mvnw -q -o dependency:copy -Dartifact=org.jcuda:jcuda-natives:12.6.0:jar:linux-x86_64 -DoutputDirectory=.device
zip -q -d .device/jcuda-natives-12.6.0-linux-x86_64.jar 'lib/libJNvPTXCompiler*' 'lib/libJNvrtc*' 'lib/libJCudaRuntime*'
# The runtime: the modules the engine needs and whatever the jar's classes need besides (jdeps: java.desktop for XChart,
# without which the demo's report fails on the device), uncompressed inside (zip-0) so that xz packs it: 22 MB.
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
rm -f .device/jre.tgz
if [ ! -f .device/jre.txz ]; then
  base=java.base,java.logging,java.management,jdk.management,jdk.unsupported,java.xml,java.naming,java.sql,jdk.crypto.ec,jdk.incubator.vector
  mods="$base,$("$JAVA_HOME/bin/jdeps" --print-module-deps --ignore-missing-deps --multi-release 25 bench/target/tune4j-all.jar)"
  jre="$(mktemp -d)"
  "$JAVA_HOME/bin/jlink" --add-modules "$mods" --strip-debug --no-header-files --no-man-pages --compress=zip-0 --output "$jre/jre" 2>/dev/null
  tar cJf .device/jre.txz -C "$jre" jre
  rm -rf "$jre"
fi
device=$(du -sb .device | cut -f1)
tree=$(git ls-files -z -co --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s }')
echo ".device: $device bytes, the working tree: $tree; a device run carries at most $((64 << 20)) in all"
[ $((device + tree)) -le $((64 << 20)) ] || { echo "the working tree and .device are over the 64 MiB a run carries"; exit 1; }
echo "bench/target/tune4j-all.jar was rebuilt without the peers (ONNX Runtime, PyTorch): before a local bench, ./mvnw -o install -DskipTests -Ppeers"
