package dev.selfie.cli.flags;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Readable value placeholders in every command's help and usage errors: {@code --steps=N},
 * {@code --lr=X}, {@code --out=DIR}, {@code --dataset=NAME} instead of picocli's default
 * {@code <fieldName>}. Options that name their own {@code paramLabel} keep it (as must the
 * options every subcommand inherits, which this leaves alone).
 */
public final class ParamLabels {
  private ParamLabels() {}

  /** Relabels the options of {@code cl} and of all its subcommands, recursively. */
  public static void apply(CommandLine cl) {
    CommandSpec spec = cl.getCommandSpec();
    for (OptionSpec o : new ArrayList<>(spec.options())) {
      if (o.arity().max() == 0 || !o.paramLabel().startsWith("<") || o.group() != null
          || o.inherited() || o.scopeType() == CommandLine.ScopeType.INHERIT) {
        continue; // a flag without a value, an explicit label, a group's or an inherited option
      }
      spec.remove(o);
      spec.addOption(o.toBuilder().paramLabel(labelFor(o)).build());
    }
    for (CommandLine sub : cl.getSubcommands().values()) {
      apply(sub);
    }
  }

  /** N for whole numbers, X for real numbers, DIR or FILE for paths, NAME for words. */
  public static String labelFor(OptionSpec o) {
    Class<?> t = o.type();
    if (t.isArray() || Collection.class.isAssignableFrom(t)) {
      Class<?>[] aux = o.auxiliaryTypes();
      t = aux.length > 0 ? aux[0] : String.class;
    }
    if (t == int.class || t == Integer.class || t == long.class || t == Long.class) {
      return "N";
    }
    if (t == double.class || t == Double.class || t == float.class || t == Float.class) {
      return "X";
    }
    if (Path.class.isAssignableFrom(t) || t == java.io.File.class) {
      return isDirectory(o) ? "DIR" : "FILE";
    }
    return "NAME";
  }

  private static boolean isDirectory(OptionSpec o) {
    for (String name : o.names()) {
      if (name.contains("dir") || List.of("--run", "--model", "--pretrained").contains(name)) {
        return true;
      }
    }
    String description = String.join(" ", o.description()).toLowerCase(Locale.ROOT);
    return description.contains("director");
  }
}
