// localStorage with JSON values, and tolerant of a browser that refuses it
// (private mode, storage full): the console then works without memory.
export const storage = {
  get(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, value);
      return true;
    } catch {
      return false;
    }
  },
  remove(key) {
    try {
      localStorage.removeItem(key);
    } catch {
      // nothing kept, nothing to forget
    }
  },
  getJson(key, fallback) {
    try {
      const text = this.get(key);
      return text === null ? fallback : JSON.parse(text);
    } catch {
      return fallback;
    }
  },
  setJson(key, value) {
    return this.set(key, JSON.stringify(value));
  },
};
