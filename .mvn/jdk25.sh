# Sourced by ./mvnw and ./tune4j (POSIX sh): the build and the command need JDK 25. Keeps JAVA_HOME when
# it is one, else takes the first JDK 25 in the usual install places, else stops with one line.
tune4j_java_ok() { [ -x "$1/bin/java" ] && "$1/bin/java" -version 2>&1 | grep -qE 'version "(2[5-9]|[3-9][0-9])'; }
if [ -z "${JAVA_HOME:-}" ] || ! tune4j_java_ok "$JAVA_HOME"; then
  for tune4j_candidate in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25* /usr/lib/jvm/*-25* /usr/lib/jvm/*25* \
      "$HOME"/.sdkman/candidates/java/25*; do
    if tune4j_java_ok "$tune4j_candidate"; then JAVA_HOME="$tune4j_candidate"; export JAVA_HOME; break; fi
  done
fi
if [ -z "${JAVA_HOME:-}" ] || ! tune4j_java_ok "$JAVA_HOME"; then
  echo "tune4j needs JDK 25 (found: $(java -version 2>&1 | head -n 1)); install Temurin 25 (apt install temurin-25-jdk) or set JAVA_HOME to one" >&2
  exit 2
fi
