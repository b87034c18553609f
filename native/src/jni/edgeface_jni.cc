// The Java API's native half (native/java: dev.edgeface.FaceAnalyzer, Gallery) over the C
// interface alone. A failure becomes a Java exception: EdgefaceException with the native
// status and message, IllegalArgumentException for a buffer the Java side could not check.
// No C++ exception reaches the JVM: each entry point catches everything.
#include <jni.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "edgeface.h"

namespace {

// An analyzer and the scratch a planar YUV frame is interleaved into.
struct Analyzer {
  edgeface_analyzer* analyzer = nullptr;
  int32_t embedding_size = 0;
  float verify_threshold = 0.f;
  std::vector<uint8_t> chroma;
};

// A String from the core's UTF-8 (dev.edgeface.Utf8 says why not NewStringUTF); null
// with a pending Java exception when the JVM cannot make it.
jstring java_string(JNIEnv* env, const char* utf8) {
  const auto size = static_cast<jsize>(std::strlen(utf8));
  jbyteArray bytes = env->NewByteArray(size);
  if (bytes == nullptr) return nullptr;
  env->SetByteArrayRegion(bytes, 0, size, reinterpret_cast<const jbyte*>(utf8));
  jclass text = env->FindClass("dev/edgeface/Utf8");
  jmethodID decode = text ? env->GetStaticMethodID(text, "decode", "([B)Ljava/lang/String;") : nullptr;
  auto result = decode ? static_cast<jstring>(env->CallStaticObjectMethod(text, decode, bytes)) : nullptr;
  if (env->ExceptionCheck()) result = nullptr;
  env->DeleteLocalRef(bytes);
  return result;
}

// The UTF-8 bytes Utf8.encode made, as a C++ string (its c_str() is what the core takes).
std::string utf8_of(JNIEnv* env, jbyteArray bytes) {
  std::string text(static_cast<size_t>(env->GetArrayLength(bytes)), '\0');
  env->GetByteArrayRegion(bytes, 0, static_cast<jsize>(text.size()), reinterpret_cast<jbyte*>(text.data()));
  return text;
}

void throw_java(JNIEnv* env, const char* type, const std::string& message) {
  if (env->ExceptionCheck()) return;
  jclass kind = env->FindClass(type);
  if (kind != nullptr) env->ThrowNew(kind, message.c_str());
}

void throw_status(JNIEnv* env, edgeface_status status) {
  if (env->ExceptionCheck()) return;
  jclass kind = env->FindClass("dev/edgeface/EdgefaceException");
  if (kind == nullptr) return;
  jmethodID make = env->GetMethodID(kind, "<init>", "(ILjava/lang/String;)V");
  jstring message = java_string(env, edgeface_last_error());
  if (make == nullptr || message == nullptr) return;
  auto error = static_cast<jthrowable>(env->NewObject(kind, make, static_cast<jint>(status), message));
  if (error != nullptr) env->Throw(error);
}

// Runs `body` (which returns an edgeface_status); a failure is thrown as a Java exception.
template <class Body>
bool call(JNIEnv* env, Body&& body) {
  try {
    const edgeface_status status = body();
    if (status == EDGEFACE_OK) return true;
    throw_status(env, status);
  } catch (const std::bad_alloc&) {
    throw_java(env, "java/lang/OutOfMemoryError", "edgeface: out of native memory");
  } catch (...) {
    throw_java(env, "java/lang/IllegalStateException", "edgeface: an unexpected native error");
  }
  return false;
}

uint8_t* address_of(JNIEnv* env, jobject buffer, jlong* capacity) {
  if (buffer == nullptr) return nullptr;
  *capacity = env->GetDirectBufferCapacity(buffer);
  return static_cast<uint8_t*>(env->GetDirectBufferAddress(buffer));
}

// A direct buffer from its position on: where it starts and how many bytes it has.
uint8_t* remaining(JNIEnv* env, jobject buffer, size_t* size) {
  jlong capacity = 0;
  uint8_t* base = address_of(env, buffer, &capacity);
  if (base == nullptr || capacity < 0) return nullptr;
  jclass kind = env->GetObjectClass(buffer);
  const jint position = env->CallIntMethod(buffer, env->GetMethodID(kind, "position", "()I"));
  if (env->ExceptionCheck()) return nullptr;
  const jint limit = env->CallIntMethod(buffer, env->GetMethodID(kind, "limit", "()I"));
  if (env->ExceptionCheck() || position < 0 || limit < position || limit > capacity) return nullptr;
  *size = static_cast<size_t>(limit - position);
  return base + position;
}

// A YUV_420_888 frame as NV21 or NV12 in place (semi-planar planes one byte apart), else
// its chroma interleaved into `scratch` as NV12.
bool yuv_image(JNIEnv* env, jobject y, jobject u, jobject v, jint stride, jint chroma_stride, jint pixel_stride,
               edgeface_image& image, std::vector<uint8_t>& scratch) {
  size_t y_size = 0, u_size = 0, v_size = 0;
  uint8_t* y_data = remaining(env, y, &y_size);
  uint8_t* u_data = remaining(env, u, &u_size);
  uint8_t* v_data = remaining(env, v, &v_size);
  if (!y_data || !u_data || !v_data) return false;
  image.pixels = y_data;
  image.stride = static_cast<size_t>(stride);
  image.size = y_size;
  if (pixel_stride == 2 && v_data + 1 == u_data) {
    image.format = EDGEFACE_PIXEL_NV21;
    image.chroma = v_data;
    image.chroma_size = std::max(v_size, u_size + 1);
  } else if (pixel_stride == 2 && u_data + 1 == v_data) {
    image.format = EDGEFACE_PIXEL_NV12;
    image.chroma = u_data;
    image.chroma_size = std::max(u_size, v_size + 1);
  } else {  // planar (or planes apart): interleave U and V
    const size_t width = (static_cast<size_t>(image.width) + 1) / 2, height = (static_cast<size_t>(image.height) + 1) / 2;
    scratch.resize(width * height * 2);
    for (size_t row = 0; row < height; ++row) {
      for (size_t col = 0; col < width; ++col) {
        const size_t at = row * static_cast<size_t>(chroma_stride) + col * static_cast<size_t>(pixel_stride);
        if (at >= u_size || at >= v_size) return false;
        scratch[2 * (row * width + col)] = u_data[at];
        scratch[2 * (row * width + col) + 1] = v_data[at];
      }
    }
    image.format = EDGEFACE_PIXEL_NV12;
    image.chroma = scratch.data();
    image.chroma_size = scratch.size();
    image.chroma_stride = width * 2;
    return true;
  }
  image.chroma_stride = static_cast<size_t>(chroma_stride);
  return true;
}

jfloatArray packed(JNIEnv* env, const edgeface_faces& faces) {
  const size_t points = static_cast<size_t>(faces.num_keypoints) * 2;
  const size_t size = faces.embeddings ? static_cast<size_t>(faces.embedding_size) : 0;
  std::vector<float> out = {static_cast<float>(faces.count), static_cast<float>(faces.num_keypoints),
                            static_cast<float>(size)};
  for (size_t i = 0; i < faces.count; ++i) {
    out.insert(out.end(), faces.boxes + 4 * i, faces.boxes + 4 * i + 4);
    out.push_back(faces.scores[i]);
    out.insert(out.end(), faces.keypoints + points * i, faces.keypoints + points * (i + 1));
    if (size) out.insert(out.end(), faces.embeddings + size * i, faces.embeddings + size * (i + 1));
  }
  jfloatArray array = env->NewFloatArray(static_cast<jsize>(out.size()));
  if (array != nullptr) env->SetFloatArrayRegion(array, 0, static_cast<jsize>(out.size()), out.data());
  return array;
}

Analyzer* analyzer_of(jlong handle) { return reinterpret_cast<Analyzer*>(handle); }

// An Image's fields (dev.edgeface.Image) as the core's view, for one call: a byte[] is
// pinned until the end of the call, a planar YUV frame interleaved into the analyzer's
// scratch. ok() false: a Java exception is pending.
class JavaImage {
 public:
  JavaImage(JNIEnv* env, Analyzer* analyzer, jint format, jint width, jint height, jint rotation, jbyteArray array,
            jobject pixels, jint stride, jobject u, jobject v, jint chroma_stride, jint chroma_pixel_stride)
      : env_(env), array_(array) {
    image_.width = width;
    image_.height = height;
    image_.rotation = rotation;
    image_.yuv_full_range = 1;
    image_.stride = static_cast<size_t>(stride);
    if (format == 5) {  // Image.YUV420
      ok_ = yuv_image(env, pixels, u, v, stride, chroma_stride, chroma_pixel_stride, image_, analyzer->chroma);
      if (!ok_) throw_java(env, "java/lang/IllegalArgumentException", "yuv420: the planes are not direct buffers the frame fits");
      return;
    }
    image_.format = format == 1 ? EDGEFACE_PIXEL_RGBA : EDGEFACE_PIXEL_RGB;
    if (array != nullptr) {
      image_.size = static_cast<size_t>(env->GetArrayLength(array));
      bytes_ = env->GetByteArrayElements(array, nullptr);
      ok_ = bytes_ != nullptr;
      image_.pixels = reinterpret_cast<const uint8_t*>(bytes_);
      return;
    }
    image_.pixels = remaining(env, pixels, &image_.size);
    ok_ = image_.pixels != nullptr;
    if (!ok_) throw_java(env, "java/lang/IllegalArgumentException", "pixels: not a direct buffer");
  }
  ~JavaImage() {
    if (bytes_ != nullptr) env_->ReleaseByteArrayElements(array_, bytes_, JNI_ABORT);
  }
  JavaImage(const JavaImage&) = delete;
  JavaImage& operator=(const JavaImage&) = delete;
  bool ok() const { return ok_; }
  const edgeface_image& view() const { return image_; }

 private:
  JNIEnv* env_;
  jbyteArray array_;
  jbyte* bytes_ = nullptr;
  edgeface_image image_{};
  bool ok_ = false;
};

}  // namespace

extern "C" {

JNIEXPORT jlong JNICALL Java_dev_edgeface_FaceAnalyzer_nativeCreate(JNIEnv* env, jclass, jbyteArray bundle_path,
                                                                    jint threads, jfloat score_threshold,
                                                                    jint max_faces, jint accelerator, jint search,
                                                                    jint min_face) {
  Analyzer* result = nullptr;
  call(env, [&] {
    edgeface_bundle* bundle = nullptr;
    edgeface_status status = edgeface_bundle_open(utf8_of(env, bundle_path).c_str(), &bundle);
    if (status != EDGEFACE_OK) return status;
    edgeface_analyzer_options options;
    edgeface_analyzer_options_default(&options);
    options.num_threads = threads;
    options.score_threshold = score_threshold;
    options.max_faces = max_faces;
    options.accelerator = static_cast<edgeface_accelerator>(accelerator);
    options.search = static_cast<edgeface_search>(search);
    options.min_face = min_face;
    edgeface_analyzer* analyzer = nullptr;
    status = edgeface_analyzer_create(bundle, &options, &analyzer);
    edgeface_bundle_info info{};
    if (status == EDGEFACE_OK) edgeface_bundle_get_info(bundle, &info);
    edgeface_bundle_close(bundle);
    if (status == EDGEFACE_OK) {
      result = new Analyzer();
      result->analyzer = analyzer;
      result->embedding_size = info.has_detector ? info.embedding_size : 0;
      result->verify_threshold = static_cast<float>(info.verify_threshold);
    }
    return status;
  });
  return reinterpret_cast<jlong>(result);
}

JNIEXPORT void JNICALL Java_dev_edgeface_FaceAnalyzer_nativeDestroy(JNIEnv*, jclass, jlong handle) {
  Analyzer* analyzer = analyzer_of(handle);
  if (analyzer == nullptr) return;
  edgeface_analyzer_destroy(analyzer->analyzer);
  delete analyzer;
}

JNIEXPORT jobjectArray JNICALL Java_dev_edgeface_FaceAnalyzer_nativeKeypointNames(JNIEnv* env, jclass, jlong handle) {
  std::vector<const char*> names;
  const char* name = nullptr;
  while (edgeface_analyzer_keypoint_name(analyzer_of(handle)->analyzer, static_cast<int32_t>(names.size()), &name) ==
         EDGEFACE_OK)
    names.push_back(name);
  jobjectArray array = env->NewObjectArray(static_cast<jsize>(names.size()), env->FindClass("java/lang/String"), nullptr);
  for (size_t i = 0; array != nullptr && i < names.size() && !env->ExceptionCheck(); ++i)
    env->SetObjectArrayElement(array, static_cast<jsize>(i), java_string(env, names[i]));
  return array;
}

JNIEXPORT jint JNICALL Java_dev_edgeface_FaceAnalyzer_nativeEmbeddingSize(JNIEnv*, jclass, jlong handle) {
  return analyzer_of(handle)->embedding_size;
}

JNIEXPORT jfloat JNICALL Java_dev_edgeface_FaceAnalyzer_nativeThreshold(JNIEnv*, jclass, jlong handle) {
  return analyzer_of(handle)->verify_threshold;
}

JNIEXPORT jfloatArray JNICALL Java_dev_edgeface_FaceAnalyzer_nativeRun(JNIEnv* env, jclass, jlong handle,
                                                                       jboolean analyze, jint format, jint width,
                                                                       jint height, jint rotation, jbyteArray array,
                                                                       jobject pixels, jint stride, jobject u,
                                                                       jobject v, jint chroma_stride,
                                                                       jint chroma_pixel_stride) {
  Analyzer* analyzer = analyzer_of(handle);
  JavaImage image(env, analyzer, format, width, height, rotation, array, pixels, stride, u, v, chroma_stride,
                  chroma_pixel_stride);
  if (!image.ok()) return nullptr;
  edgeface_faces faces{};
  const bool ok = call(env, [&] {
    return analyze ? edgeface_analyzer_analyze(analyzer->analyzer, &image.view(), &faces)
                   : edgeface_analyzer_detect(analyzer->analyzer, &image.view(), &faces);
  });
  return ok ? packed(env, faces) : nullptr;
}

JNIEXPORT jfloatArray JNICALL Java_dev_edgeface_FaceAnalyzer_nativeEmbed(JNIEnv* env, jclass, jlong handle, jint format,
                                                                         jint width, jint height, jint rotation,
                                                                         jbyteArray array, jobject pixels, jint stride,
                                                                         jobject u, jobject v, jint chroma_stride,
                                                                         jint chroma_pixel_stride,
                                                                         jfloatArray keypoints, jint count) {
  Analyzer* analyzer = analyzer_of(handle);
  JavaImage image(env, analyzer, format, width, height, rotation, array, pixels, stride, u, v, chroma_stride,
                  chroma_pixel_stride);
  if (!image.ok()) return nullptr;
  std::vector<float> points(static_cast<size_t>(env->GetArrayLength(keypoints)));
  env->GetFloatArrayRegion(keypoints, 0, static_cast<jsize>(points.size()), points.data());
  std::vector<float> out;
  const bool ok = call(env, [&] {
    out.resize(static_cast<size_t>(count) * static_cast<size_t>(analyzer->embedding_size));
    return edgeface_analyzer_embed_faces(analyzer->analyzer, &image.view(), points.data(), static_cast<size_t>(count),
                                         out.data(), out.size());
  });
  if (!ok) return nullptr;
  jfloatArray result = env->NewFloatArray(static_cast<jsize>(out.size()));
  if (result != nullptr) env->SetFloatArrayRegion(result, 0, static_cast<jsize>(out.size()), out.data());
  return result;
}

JNIEXPORT jfloatArray JNICALL Java_dev_edgeface_FaceAnalyzer_nativeCompare(JNIEnv* env, jclass, jlong handle,
                                                                           jfloatArray a, jfloatArray b) {
  const jsize size = env->GetArrayLength(a);
  if (env->GetArrayLength(b) != size) {
    throw_java(env, "java/lang/IllegalArgumentException", "embeddings of different lengths");
    return nullptr;
  }
  std::vector<float> first(static_cast<size_t>(size)), second(static_cast<size_t>(size));
  env->GetFloatArrayRegion(a, 0, size, first.data());
  env->GetFloatArrayRegion(b, 0, size, second.data());
  float similarity = 0;
  int32_t match = 0;
  if (!call(env, [&] {
        return edgeface_analyzer_compare(analyzer_of(handle)->analyzer, first.data(), second.data(),
                                         first.size(), &similarity, &match);
      }))
    return nullptr;
  const float result[2] = {similarity, static_cast<float>(match)};
  jfloatArray out = env->NewFloatArray(2);
  if (out != nullptr) env->SetFloatArrayRegion(out, 0, 2, result);
  return out;
}

JNIEXPORT jlong JNICALL Java_dev_edgeface_Gallery_nativeOpen(JNIEnv* env, jclass, jbyteArray path, jint dim) {
  edgeface_gallery* gallery = nullptr;
  call(env, [&] { return edgeface_gallery_open(utf8_of(env, path).c_str(), dim, &gallery); });
  return reinterpret_cast<jlong>(gallery);
}

JNIEXPORT jlong JNICALL Java_dev_edgeface_Gallery_nativeCreate(JNIEnv* env, jclass, jint dim) {
  edgeface_gallery* gallery = nullptr;
  call(env, [&] { return edgeface_gallery_create(dim, &gallery); });
  return reinterpret_cast<jlong>(gallery);
}

JNIEXPORT jint JNICALL Java_dev_edgeface_Gallery_nativeEnroll(JNIEnv* env, jclass, jlong handle, jbyteArray name,
                                                              jfloatArray rows, jint count) {
  std::vector<float> values(static_cast<size_t>(env->GetArrayLength(rows)));
  env->GetFloatArrayRegion(rows, 0, static_cast<jsize>(values.size()), values.data());
  size_t templates = 0;
  call(env, [&] {
    return edgeface_gallery_enroll(reinterpret_cast<edgeface_gallery*>(handle), utf8_of(env, name).c_str(),
                                   values.data(), values.size(), static_cast<size_t>(count), &templates);
  });
  return static_cast<jint>(templates);
}

JNIEXPORT jint JNICALL Java_dev_edgeface_Gallery_nativeRemove(JNIEnv* env, jclass, jlong handle, jbyteArray name) {
  size_t removed = 0;
  call(env, [&] {
    return edgeface_gallery_remove(reinterpret_cast<edgeface_gallery*>(handle), utf8_of(env, name).c_str(), &removed);
  });
  return static_cast<jint>(removed);
}

JNIEXPORT void JNICALL Java_dev_edgeface_Gallery_nativeSave(JNIEnv* env, jclass, jlong handle, jbyteArray path) {
  call(env, [&] {
    const std::string file = path ? utf8_of(env, path) : std::string();
    return edgeface_gallery_save(reinterpret_cast<edgeface_gallery*>(handle), path ? file.c_str() : nullptr);
  });
}

JNIEXPORT void JNICALL Java_dev_edgeface_Gallery_nativeBind(JNIEnv* env, jclass, jlong handle, jlong analyzer) {
  call(env, [&] {
    return edgeface_gallery_bind(reinterpret_cast<edgeface_gallery*>(handle), analyzer_of(analyzer)->analyzer);
  });
}

JNIEXPORT void JNICALL Java_dev_edgeface_Gallery_nativeClose(JNIEnv*, jclass, jlong handle) {
  edgeface_gallery_close(reinterpret_cast<edgeface_gallery*>(handle));
}

JNIEXPORT jlongArray JNICALL Java_dev_edgeface_Gallery_nativeCounts(JNIEnv* env, jclass, jlong handle) {
  const auto* gallery = reinterpret_cast<const edgeface_gallery*>(handle);
  const jlong counts[2] = {static_cast<jlong>(edgeface_gallery_identity_count(gallery)),
                           static_cast<jlong>(edgeface_gallery_template_count(gallery))};
  jlongArray out = env->NewLongArray(2);
  if (out != nullptr) env->SetLongArrayRegion(out, 0, 2, counts);
  return out;
}

JNIEXPORT jobjectArray JNICALL Java_dev_edgeface_Gallery_nativeSearch(JNIEnv* env, jclass, jlong handle,
                                                                      jfloatArray query, jint top_k, jfloat threshold) {
  const auto* gallery = reinterpret_cast<const edgeface_gallery*>(handle);
  std::vector<float> values(static_cast<size_t>(env->GetArrayLength(query)));
  env->GetFloatArrayRegion(query, 0, static_cast<jsize>(values.size()), values.data());
  std::vector<edgeface_match> matches;
  size_t count = 0;
  if (!call(env, [&] {
        matches.resize(static_cast<size_t>(top_k));
        return edgeface_gallery_search(gallery, values.data(), values.size(), threshold, matches.data(),
                                       matches.size(), &count);
      }))
    return nullptr;
  jobjectArray names = env->NewObjectArray(static_cast<jsize>(count), env->FindClass("java/lang/String"), nullptr);
  jfloatArray scores = env->NewFloatArray(static_cast<jsize>(count));
  if (names == nullptr || scores == nullptr) return nullptr;
  for (size_t i = 0; i < count; ++i) {
    jstring name = java_string(env, matches[i].name);
    if (name == nullptr) return nullptr;
    env->SetObjectArrayElement(names, static_cast<jsize>(i), name);
    env->DeleteLocalRef(name);
    env->SetFloatArrayRegion(scores, static_cast<jsize>(i), 1, &matches[i].score);
  }
  jobjectArray out = env->NewObjectArray(2, env->FindClass("java/lang/Object"), nullptr);
  if (out != nullptr) {
    env->SetObjectArrayElement(out, 0, names);
    env->SetObjectArrayElement(out, 1, scores);
  }
  return out;
}

}  // extern "C"
