package org.tune4j.bindings.gen;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes jextract-shaped Java bindings for one of tune4j's C headers: one class per header, one
 * {@code MethodHandle} per function (in a holder class, linked on first use), the {@code #define}
 * integer constants, and the comment above each prototype as its Javadoc.
 *
 * <p>jextract is not in the package registries this project can reach, and the headers are kept
 * simple on purpose (ARCHITECTURE.md, "The C ABI"): one prototype per line, plain C types. This reads exactly
 * that subset and fails loudly on anything else.
 *
 * <p>Usage: {@code BindingsGenerator HEADER OUTPUT_DIR PACKAGE CLASS LIBRARY_FILE}.
 */
public final class BindingsGenerator {
    private static final Pattern DEFINE = Pattern.compile("^#define\\s+(T4J_\\w+)\\s+(-?\\d+)\\b.*$");
    private static final Pattern PROTOTYPE = Pattern.compile("^(T4J_SHORT\\s+)?([\\w\\s]+?\\s*\\**)\\s*(t4j_\\w+)\\((.*)\\);\\s*$");
    private static final Pattern PARAM = Pattern.compile("^(const\\s+)?(\\w+)\\s*(\\*?(?:\\s*const\\s*\\*)?)\\s*(\\w+)$"); // "const float *const *a": an array of pointers

    record Param(String cType, boolean pointer, String name) {}

    record Function(String name, String returnType, boolean returnsPointer, List<Param> params, boolean critical, String doc) {}

    record Constant(String name, String value) {}

    private BindingsGenerator() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 5) {
            System.err.println("usage: BindingsGenerator HEADER OUTPUT_DIR PACKAGE CLASS LIBRARY_FILE");
            System.exit(2);
        }
        Path header = Path.of(args[0]);
        String source = generate(Files.readString(header), header.getFileName().toString(), args[2], args[3], args[4]);
        Path out = Path.of(args[1], args[2].replace('.', '/'), args[3] + ".java");
        Files.createDirectories(out.getParent());
        Files.writeString(out, source);
    }

    /** The Java source for {@code headerText}. Deterministic: the same header gives the same bytes. */
    public static String generate(String headerText, String headerName, String pkg, String className, String libraryFile) {
        List<Constant> constants = new ArrayList<>();
        List<Function> functions = new ArrayList<>();
        List<String> comment = new ArrayList<>();
        boolean inComment = false;
        for (String raw : headerText.split("\n", -1)) {
            String line = raw.strip();
            if (inComment || line.startsWith("/*")) {
                if (!inComment) comment.clear();
                inComment = !line.contains("*/");
                comment.add(line);
                continue;
            }
            Matcher d = DEFINE.matcher(line);
            Matcher p = PROTOTYPE.matcher(line);
            if (d.matches()) {
                constants.add(new Constant(d.group(1), d.group(2)));
            } else if (p.matches()) {
                functions.add(parseFunction(p, docOf(comment)));
            } else if (line.contains("t4j_") && line.contains("(")) {
                throw new IllegalArgumentException(headerName + ": cannot read this prototype (keep it on one line, plain C types): " + line);
            }
            if (!line.isEmpty() || !comment.isEmpty()) comment.clear();
        }
        return render(headerName, pkg, className, libraryFile, constants, functions);
    }

    private static Function parseFunction(Matcher p, String doc) {
        String returnType = p.group(2).strip();
        boolean returnsPointer = returnType.endsWith("*");
        List<Param> params = new ArrayList<>();
        String list = p.group(4).strip();
        if (!list.equals("void") && !list.isEmpty()) {
            for (String part : list.split(",")) {
                Matcher m = PARAM.matcher(part.strip());
                if (!m.matches()) {
                    throw new IllegalArgumentException("cannot read parameter '" + part.strip() + "' of " + p.group(3));
                }
                params.add(new Param(m.group(2), !m.group(3).isEmpty(), m.group(4)));
            }
        }
        return new Function(p.group(3), returnType.replace("*", "").replace("const", "").strip(), returnsPointer, params, p.group(1) != null, doc);
    }

    /** The text of a C block comment, without its markers. */
    private static String docOf(List<String> comment) {
        StringBuilder sb = new StringBuilder();
        for (String line : comment) {
            String t = line.replaceFirst("^/\\*+", "").replaceFirst("\\*+/$", "").replaceFirst("^\\*\\s?", "").strip();
            if (!t.isEmpty()) sb.append(sb.isEmpty() ? "" : " ").append(t);
        }
        return sb.toString().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*/", "*&#47;");
    }

    private static String layout(String cType, boolean pointer) {
        if (pointer) return "ADDRESS";
        return switch (cType) {
            case "int32_t", "int" -> "JAVA_INT";
            case "int64_t" -> "JAVA_LONG";
            case "float" -> "JAVA_FLOAT";
            case "double" -> "JAVA_DOUBLE";
            case "int8_t" -> "JAVA_BYTE";
            case "uint16_t", "int16_t" -> "JAVA_SHORT";
            default -> throw new IllegalArgumentException("unsupported C type: " + cType);
        };
    }

    private static String javaType(String cType, boolean pointer) {
        if (pointer) return "MemorySegment";
        return switch (layout(cType, false)) {
            case "JAVA_INT" -> "int";
            case "JAVA_LONG" -> "long";
            case "JAVA_FLOAT" -> "float";
            case "JAVA_DOUBLE" -> "double";
            case "JAVA_BYTE" -> "byte";
            default -> "short";
        };
    }

    private static String render(String headerName, String pkg, String className, String libraryFile, List<Constant> constants, List<Function> functions) {
        StringBuilder s = new StringBuilder();
        s.append("// Generated by org.tune4j.bindings.gen.BindingsGenerator from ").append(headerName).append(". Do not edit:\n");
        s.append("// change the header and regenerate (see bindings/README.md).\n");
        s.append("package ").append(pkg).append(";\n\n");
        s.append("import static java.lang.foreign.ValueLayout.*;\n\n");
        s.append("import java.lang.foreign.FunctionDescriptor;\n");
        s.append("import java.lang.foreign.MemorySegment;\n");
        s.append("import java.lang.foreign.SymbolLookup;\n");
        s.append("import java.lang.invoke.MethodHandle;\n");
        s.append("import java.util.List;\n\n");
        s.append("/** Bindings for {@code ").append(headerName).append("} in {@code ").append(libraryFile).append("}. */\n");
        s.append("@SuppressWarnings({\"unused\", \"checkstyle:all\"})\n");
        s.append("public final class ").append(className).append(" {\n");
        s.append("    private ").append(className).append("() {}\n\n");
        s.append("    private static final class Library {\n");
        s.append("        static final SymbolLookup LOOKUP = NativeLoader.load(\"").append(libraryFile).append("\");\n");
        s.append("    }\n\n");
        s.append("    /** The library's symbol lookup (opens the library on first use). */\n");
        s.append("    public static SymbolLookup library() {\n        return Library.LOOKUP;\n    }\n\n");
        for (Constant c : constants) {
            s.append("    public static final int ").append(c.name()).append(" = ").append(c.value()).append(";\n");
        }
        s.append("\n    /** The names of all functions the header declares. */\n");
        s.append("    public static final List<String> FUNCTIONS = List.of(");
        for (int i = 0; i < functions.size(); i++) {
            s.append(i == 0 ? "\n            " : ",\n            ").append('"').append(functions.get(i).name()).append('"');
        }
        s.append(");\n");
        for (Function f : functions) {
            boolean isVoid = f.returnType().equals("void") && !f.returnsPointer();
            String ret = isVoid ? "void" : javaType(f.returnType(), f.returnsPointer());
            StringBuilder layouts = new StringBuilder();
            for (Param p : f.params()) layouts.append(", ").append(layout(p.cType(), p.pointer()));
            String desc = isVoid
                    ? "FunctionDescriptor.ofVoid(" + (layouts.isEmpty() ? "" : layouts.substring(2)) + ")"
                    : "FunctionDescriptor.of(" + layout(f.returnType(), f.returnsPointer()) + layouts + ")";
            s.append("\n    private static final class ").append(f.name()).append(" {\n");
            s.append("        static final FunctionDescriptor DESC = ").append(desc).append(";\n");
            s.append("        static final MethodHandle HANDLE = NativeAccess.downcall(Library.LOOKUP, \"").append(f.name())
                    .append("\", DESC, ").append(f.critical()).append(");\n");
            s.append("    }\n\n");
            if (!f.doc().isEmpty()) s.append("    /** ").append(f.doc()).append(" */\n");
            s.append("    public static ").append(ret).append(' ').append(f.name()).append('(');
            StringBuilder args = new StringBuilder();
            for (int i = 0; i < f.params().size(); i++) {
                Param p = f.params().get(i);
                if (i > 0) {
                    s.append(", ");
                    args.append(", ");
                }
                s.append(javaType(p.cType(), p.pointer())).append(' ').append(p.name());
                args.append(p.name());
            }
            s.append(") {\n        try {\n            ");
            if (!isVoid) s.append("return (").append(ret).append(") ");
            s.append(f.name()).append(".HANDLE.invokeExact(").append(args).append(");\n");
            s.append("        } catch (RuntimeException | Error ex$) {\n            throw ex$;\n");
            s.append("        } catch (Throwable ex$) {\n            throw new AssertionError(\"unexpected checked exception from a downcall\", ex$);\n        }\n    }\n\n");
            s.append("    public static MethodHandle ").append(f.name()).append("$handle() {\n        return ")
                    .append(f.name()).append(".HANDLE;\n    }\n\n");
            s.append("    public static FunctionDescriptor ").append(f.name()).append("$descriptor() {\n        return ")
                    .append(f.name()).append(".DESC;\n    }\n");
        }
        s.append("}\n");
        return s.toString();
    }
}
