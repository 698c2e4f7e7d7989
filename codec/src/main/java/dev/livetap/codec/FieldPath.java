package dev.livetap.codec;

/** A field path built as a cheap linked list and rendered ({@code peers[3].fd}) only for error messages. */
final class FieldPath {
    static final FieldPath ROOT = new FieldPath(null, null, -1);

    private final FieldPath parent;
    private final String name;
    private final int index;

    private FieldPath(FieldPath parent, String name, int index) {
        this.parent = parent;
        this.name = name;
        this.index = index;
    }

    FieldPath child(String n) {
        return new FieldPath(this, n, -1);
    }

    FieldPath index(int i) {
        return new FieldPath(this, null, i);
    }

    @Override
    public String toString() {
        if (parent == null) {
            return "";
        }
        String p = parent.toString();
        if (name == null) {
            return p + "[" + index + "]";
        }
        return p.isEmpty() ? name : p + "." + name;
    }
}
