package dev.livetap.nativeio;

/**
 * Which file a path named when it was looked at: lstat(2)'s {@code st_dev} and {@code st_ino}.
 * A path that was unlinked and bound again by someone else has another identity.
 */
public record PathIdentity(long device, long inode) {
}
