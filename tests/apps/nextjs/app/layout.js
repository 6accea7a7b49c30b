// app/layout.js
import { currentSession } from "@/lib/session"; // your own
import { Providers } from "./providers";

export default async function RootLayout({ children }) {
  const session = await currentSession();
  return (
    <html lang="en">
      <body>
        <Providers participant={session?.participantId}>{children}</Providers>
      </body>
    </html>
  );
}
