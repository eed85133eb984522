// The package entry for the AssemblyScript compiler (asc resolves
// "@sluicemq/plugin-sdk" to this file); the SDK is in assembly/.
export * from "./assembly/index";
