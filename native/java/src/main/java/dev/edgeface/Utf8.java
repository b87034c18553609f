package dev.edgeface;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Text for the native core, which takes and gives standard UTF-8. JNI's own string
 * functions use "modified UTF-8" (a character outside the Basic Multilingual Plane as two
 * three-byte halves, NUL as two bytes), which would turn "Zoë 🙂" into another name in a
 * gallery file the Python SDK reads; so strings cross as UTF-8 bytes.
 */
final class Utf8 {
  private Utf8() {}

  /** text as UTF-8; a lone surrogate or a NUL (which would cut a C string short) is refused naming what. */
  static byte[] encode(String what, String text) {
    if (text == null) throw new IllegalArgumentException(what + ": null");
    if (text.indexOf('\0') >= 0) throw new IllegalArgumentException(what + ": holds a NUL character");
    try {
      ByteBuffer bytes = StandardCharsets.UTF_8.newEncoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .encode(CharBuffer.wrap(text));
      byte[] out = new byte[bytes.remaining()];
      bytes.get(out);
      return out;
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException(what + ": holds a lone surrogate, which is not text: pass valid Unicode");
    }
  }

  /** What the native side hands back (names, messages): UTF-8 bytes as a String. */
  static String decode(byte[] bytes) {
    return new String(bytes, StandardCharsets.UTF_8);
  }
}
