// As create-next-app writes it, plus Turbopack's root pinned to this folder (the
// repository around it has lock files of its own). Nothing mdh-token needs configured.
/** @type {import("next").NextConfig} */
const nextConfig = {
  turbopack: { root: import.meta.dirname },
};

export default nextConfig;
