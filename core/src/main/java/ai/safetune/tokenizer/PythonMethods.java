package ai.safetune.tokenizer;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The Python {@code str} and {@code dict} methods that Hugging Face chat templates call
 * ({@code content.strip()}, {@code role.startswith('sys')}, {@code message.get('x', y)}, ...), which Jinja2
 * evaluates as Python but Jinjava would look up as Java methods. Placed before Jinjava's own resolver;
 * everything else falls through to it.
 */
final class PythonMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(method instanceof String)) {
            return null;
        }
        Object[] args = params == null ? new Object[0] : params;
        Object result;
        if (base instanceof String) {
            result = stringMethod((String) base, (String) method, args);
        } else if (base instanceof Map<?, ?>) {
            result = dictMethod((Map<?, ?>) base, (String) method, args);
        } else {
            return null;
        }
        if (result == NOT_HANDLED) {
            return null;
        }
        context.setPropertyResolved(true);
        return result;
    }

    private static final Object NOT_HANDLED = new Object();

    private static Object stringMethod(String s, String method, Object[] a) {
        switch (method) {
            case "startswith":
                return a.length == 1 ? anyMatch(a[0], p -> s.startsWith(p)) : NOT_HANDLED;
            case "endswith":
                return a.length == 1 ? anyMatch(a[0], p -> s.endsWith(p)) : NOT_HANDLED;
            case "strip":
                return a.length == 0 || a[0] == null ? stripPy(s, true, true, null)
                        : a.length == 1 ? stripPy(s, true, true, a[0].toString()) : NOT_HANDLED;
            case "lstrip":
                return a.length == 0 || a[0] == null ? stripPy(s, true, false, null)
                        : a.length == 1 ? stripPy(s, true, false, a[0].toString()) : NOT_HANDLED;
            case "rstrip":
                return a.length == 0 || a[0] == null ? stripPy(s, false, true, null)
                        : a.length == 1 ? stripPy(s, false, true, a[0].toString()) : NOT_HANDLED;
            case "upper":
                return a.length == 0 ? s.toUpperCase(Locale.ROOT) : NOT_HANDLED;
            case "lower":
                return a.length == 0 ? s.toLowerCase(Locale.ROOT) : NOT_HANDLED;
            case "split":
                return split(s, a);
            default:
                return NOT_HANDLED;
        }
    }

    private static Object dictMethod(Map<?, ?> m, String method, Object[] a) {
        switch (method) {
            case "get":
                if (a.length == 2) {
                    return m.containsKey(a[0]) ? m.get(a[0]) : a[1];
                }
                return NOT_HANDLED;
            case "items":
                if (a.length != 0) {
                    return NOT_HANDLED;
                }
                List<List<Object>> items = new ArrayList<>();
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    List<Object> pair = new ArrayList<>(2);
                    pair.add(e.getKey());
                    pair.add(e.getValue());
                    items.add(pair);
                }
                return items;
            default:
                return NOT_HANDLED;
        }
    }

    private interface Test {
        boolean test(String prefix);
    }

    /** Python accepts one string or a tuple of strings. */
    private static boolean anyMatch(Object arg, Test t) {
        if (arg instanceof Collection<?>) {
            for (Object o : (Collection<?>) arg) {
                if (t.test(String.valueOf(o))) {
                    return true;
                }
            }
            return false;
        }
        return t.test(String.valueOf(arg));
    }

    /** Python str.isspace for one char. */
    private static boolean isPySpace(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }

    private static String stripPy(String s, boolean left, boolean right, String chars) {
        int a = 0;
        int b = s.length();
        if (left) {
            while (a < b && (chars == null ? isPySpace(s.charAt(a)) : chars.indexOf(s.charAt(a)) >= 0)) {
                a++;
            }
        }
        if (right) {
            while (b > a && (chars == null ? isPySpace(s.charAt(b - 1)) : chars.indexOf(s.charAt(b - 1)) >= 0)) {
                b--;
            }
        }
        return s.substring(a, b);
    }

    private static Object split(String s, Object[] a) {
        if (a.length > 2) {
            return NOT_HANDLED;
        }
        String sep = a.length >= 1 && a[0] != null ? a[0].toString() : null;
        int maxSplit = a.length == 2 ? ((Number) a[1]).intValue() : -1;
        List<String> out = new ArrayList<>();
        if (sep == null) {
            // whitespace runs, no empty strings
            int i = 0;
            int n = s.length();
            while (i < n) {
                while (i < n && isPySpace(s.charAt(i))) {
                    i++;
                }
                if (i >= n) {
                    break;
                }
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(stripPy(s.substring(i), false, true, null));
                    return out;
                }
                int j = i;
                while (j < n && !isPySpace(s.charAt(j))) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int from = 0;
        while (maxSplit < 0 || out.size() < maxSplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) {
                break;
            }
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    // property access is left entirely to Jinjava's resolver

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // not resolved here
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
