// ESLint: type-aware rules with teeth, and the architecture's dependency rule as import bans.
import tseslint from "typescript-eslint";

const banned = (patterns, message) => ({
  "no-restricted-imports": ["error", { patterns: patterns.map((group) => ({ group: [group], message })) }],
});

export default tseslint.config(
  { ignores: ["src/gen/**", "dist/**", "node_modules/**", "**/*.cjs", "**/*.mjs", ".pairgate/**", ".bench-build/**"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "off",
    },
  },
  {
    files: ["src/domain/**/*.ts"],
    rules: banned(
      ["@grpc/*", "level", "classic-level", "abstract-level", "zod", "**/gen/**", "**/storage/**", "**/transport/**", "**/config/**", "**/cli/**"],
      "src/domain imports node built-ins only (see DEVELOPERS.md dependency rule).",
    ),
  },
  {
    files: ["src/storage/**/*.ts"],
    rules: banned(["@grpc/*", "**/gen/**", "**/transport/**", "**/cli/**", "**/config/**"], "storage depends on domain only."),
  },
  {
    files: ["src/transport/**/*.ts"],
    rules: banned(["level", "classic-level", "**/storage/**", "**/cli/**", "**/config/**"], "transport maps proto <-> domain only."),
  },
  {
    files: ["src/cli/**/*.ts"],
    rules: banned(
      ["level", "classic-level", "**/domain/**", "**/storage/**", "**/transport/**", "**/gen/**"],
      "the CLI talks to the daemon only through clients/ (src/cli/serve.ts is the one exception, see README).",
    ),
  },
  {
    files: ["clients/**/*.ts"],
    rules: banned(["level", "classic-level", "**/src/domain/**", "**/src/storage/**", "**/src/transport/**", "**/src/cli/**"], "clients depend on src/gen only."),
  },
);
