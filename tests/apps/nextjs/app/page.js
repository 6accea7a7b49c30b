// app/page.js
import { Participant } from "./participant";

export default function Page() {
  return (
    <main>
      <Participant />
    </main>
  );
}
