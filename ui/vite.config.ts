import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build lands inside the Python package, which serves it at "/" (cairn.server.ui).
// A relative base keeps asset URLs working behind a path prefix, too.
export default defineConfig({
  plugins: [react()],
  base: "./",
  build: {
    outDir: "../src/cairn/server/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      "/ajax-api": "http://127.0.0.1:5000",
      "/get-artifact": "http://127.0.0.1:5000",
    },
  },
});
